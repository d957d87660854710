// A CodeMirror 6 editor bound to a document's Y.Text "content" and its awareness (remote carets
// and selections with each user's name and colour) by y-codemirror.next.

import { EditorState, Compartment } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, drawSelection, highlightActiveLine, highlightActiveLineGutter } from "@codemirror/view";
import { defaultKeymap, indentWithTab } from "@codemirror/commands";
import * as Y from "yjs";
import { yCollab, yUndoManagerKeymap } from "y-codemirror.next";

const theme = EditorView.theme({
  "&": { height: "100%", fontSize: "14px" },
  ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace" },
  ".cm-content": { padding: "1.4em 0 8px" }, // room for a caret's name label on line 1
  // Remote carets always show their owner's name (y-codemirror.next shows it on hover only).
  ".cm-ySelectionInfo": { opacity: "1", top: "-1.3em", padding: "0 4px", lineHeight: "1.3em", borderRadius: "3px", fontFamily: "system-ui, sans-serif", fontWeight: "600" },
  ".cm-ySelectionCaret": { zIndex: "2" },
});

/** `editable`: false for a viewer. Returns {view, setEditable(bool), destroy()}. */
export function createEditor(parent, doc, { editable }) {
  const ytext = doc.ydoc.getText("content");
  const undoManager = new Y.UndoManager(ytext);
  const access = new Compartment();
  const accessOf = (canEdit) => [EditorState.readOnly.of(!canEdit), EditorView.editable.of(canEdit)];
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: ytext.toString(),
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightActiveLine(),
        drawSelection(),
        EditorView.lineWrapping,
        keymap.of([...yUndoManagerKeymap, ...defaultKeymap, indentWithTab]),
        yCollab(ytext, doc.awareness, { undoManager }),
        access.of(accessOf(editable)),
        theme,
      ],
    }),
  });
  return {
    view,
    setEditable(canEdit) {
      view.dispatch({ effects: access.reconfigure(accessOf(canEdit)) });
    },
    destroy() {
      view.destroy();
      undoManager.destroy();
    },
  };
}
