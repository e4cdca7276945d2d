// The fix catalog: one record per published fix (name + version), with the signed statement the
// agents verify and where the file lies under the hub's data directory.

export interface FixRecord {
  name: string;
  version: string;
  fileName: string;
  /** Where the file lies, relative to the hub's data directory. */
  path: string;
  size: number;
  sha256: string;
  /** Appliance models; empty: every model. */
  appliesTo: string[];
  description: string | null;
  publishedAtMs: number;
  /** The signed statement (compact JWS) agents verify. */
  statement: string;
}

export interface HubFixStore {
  /** Adds a fix; the same name and version twice is refused with CALLHOME_FIX_EXISTS. */
  add(fix: FixRecord): Promise<void>;
  get(name: string, version: string): Promise<FixRecord | undefined>;
  /**
   * Published fixes, newest first, then by name and version. With `model`, only those for that
   * model (matched exactly) or for every model.
   */
  list(options?: { model?: string | undefined }): Promise<FixRecord[]>;
}
