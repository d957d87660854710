/** Origin of awareness changes this package makes from the server's events. */
export const REMOTE_ORIGIN: "collab";
export function hash32(text: string): number;
export function colorFor(userId: string): {
    color: string;
    colorLight: string;
};
export function clientIdForSid(sid: string, localClientID: number): number;
/** An empty relative position on the wire: "this socket shows no cursor in the document". */
export const NO_CURSOR: Uint8Array<ArrayBuffer>;
export function encodePosition(position: any): Uint8Array;
export function decodePosition(value: number | Uint8Array, ytext: Y.Text): any;
export function setRemoteState(awareness: import("y-protocols/awareness").Awareness, clientID: number, state: object | null): void;
import * as Y from 'yjs';
