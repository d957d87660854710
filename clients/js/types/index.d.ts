export { CollabClient } from "./client.js";
export { Workspace } from "./workspace.js";
export { CollabDocument } from "./document.js";
export { CollabError } from "./errors.js";
export { colorFor } from "./awareness.js";
export { claimsOf } from "./token.js";
