// Types of install.cjs for the TypeScript side.
import type { Manifest, PublicKey } from './manifest.cjs';

export interface Here {
  arch: string;
  abi: number;
  node: string;
}
export function readBundle(
  file: string,
  o: { keys: PublicKey[]; here?: Here | null; into?: string; spaceDir?: string; onManifest?: (m: Manifest, bytes: Buffer) => 'skip-write' | undefined; signal?: AbortSignal },
): Promise<{ manifest: Manifest; manifestBytes: Buffer; keyId: string; written: boolean }>;
export function unpackBundle(
  file: string,
  o: { app: string; keys: PublicKey[]; here: Here; dryRun?: boolean; scratch?: string; owner?: number },
): Promise<{ manifest: Manifest; status: 'unchanged' | 'new' | 'repair'; dir: string; problems?: string[] }>;
export function commitRelease(app: string, incoming: string, version: string): 'installed' | 'replaced';
export function activate(app: string, version: string, o?: { keep?: number; dryRun?: boolean }): { version: string; was?: string; switched: boolean; removed: string[] };
export function prune(app: string, o?: { keep?: number; dryRun?: boolean; current?: string; previous?: string }): string[];
export function cleanStale(app: string): string[];
export function linkVersion(app: string, name: 'current' | 'previous'): string | undefined;
export function setPrevious(app: string, version: string | undefined): void;
export function readHistory(app: string): { time: string; action: string; version: string; from?: string }[];
export function freeBytes(dir: string): number;
export function spaceNeeded(m: Manifest): number;
export function releasesDir(app: string): string;
