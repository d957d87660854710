export function retryDelayMs(error: import("./errors.js").CollabError, attempt: number): any;
export function sleep(ms: number): Promise<any>;
