// What the admin API serves, as plain JSON-ready shapes, and the backend interface the
// composition root implements. The admin server knows HTTP; the backend knows the state.

export interface AdminMemberView {
  id: string;
  address: string;
  weight: number;
  healthy: boolean;
  draining: boolean;
  breakerOpen: boolean;
}

export interface AdminPoolView {
  algorithm: string;
  balanceFactor?: number;
  /** Version at which this pool's snapshot was last rebuilt. */
  ringVersion: number;
  members: AdminMemberView[];
}

export interface AdminStateView {
  ringVersion: number;
  pools: Record<string, AdminPoolView>;
}

export interface RouteExplanationView {
  pool: string;
  key?: string;
  keyHash: number;
  /** The member owning the key's hash on the ring, whatever its state. */
  owner: string | null;
  /** Where a request with this key goes now (null: no available member). */
  member: string | null;
  /** Members passed over, in ring order from the owner, and why. */
  skipped: Array<{ id: string; reason: string }>;
  ringVersion: number;
}

export type Readiness = { ready: true } | { ready: false; reason: string; detail?: unknown };

/** A refusal the admin API turns into a JSON error with this status and code. */
export interface AdminError {
  status: number;
  error: string;
  message: string;
  detail?: unknown;
}

export type AdminResult<T> = { ok: true; value: T } | { ok: false; err: AdminError };

export interface ReloadView {
  ringVersion: number;
  /** Settings read from the new file that only take effect after a restart (listen addresses). */
  restartRequired: string[];
}

export interface DrainView {
  pool: string;
  member: string;
  draining: boolean;
  ringVersion: number;
}

export interface AdminBackend {
  readiness(): Readiness;
  state(): AdminStateView;
  explainRoute(pool: string, key: string): AdminResult<RouteExplanationView>;
  reload(): Promise<AdminResult<ReloadView>>;
  setDraining(pool: string, member: string, draining: boolean): AdminResult<DrainView>;
  /** The Prometheus text exposition and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The configured admin token; "" disables mutating endpoints. Read per request (reload may change it). */
  adminToken(): string;
}
