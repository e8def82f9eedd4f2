// Types of manifest.cjs for the TypeScript side (src/release: the builder and the tests).
import type { KeyObject } from 'node:crypto';

export class ReleaseError extends Error {}
export type Arch = 'x64' | 'arm64' | 'arm';
export const ARCHES: Record<Arch, { deb: string; elf: number; uname: string }>;
export const NAME: 'qrpos';
export const PLATFORM: 'linux';

export interface FileEntry {
  rel: string;
  src: string;
  size: number;
  mode: number;
}
export interface NativeModule {
  path: string;
  package: string;
  version: string;
  kind: 'abi' | 'napi' | 'none';
  abi?: number;
}
export interface FileRecord {
  sha256: string;
  size: number;
  mode: '0644' | '0755';
}
export interface Manifest {
  format: number;
  name: string;
  version: string;
  describe: string | null;
  commit: string | null;
  packageVersion: string | null;
  source: 'bundle' | 'checkout';
  platform: 'linux';
  arch: Arch;
  created: string;
  node: { engines: string | null; abi: number[]; napi: boolean; builtWith: string | null };
  native: NativeModule[];
  lockSha256: string | null;
  count: number;
  size: number;
  files: Record<string, FileRecord>;
}
export interface ManifestMeta {
  version: string;
  describe?: string | null;
  commit?: string | null;
  packageVersion?: string | null;
  source: 'bundle' | 'checkout';
  arch: string;
  created?: string;
  engines?: string | null;
  builtWith?: string | null;
  lockSha256?: string | null;
}
export interface PublicKey {
  key: KeyObject;
  id: string;
  file: string;
}

export function normalizeArch(a: string): Arch;
export function checkVersion(v: string): string;
export function bundleStem(version: string, arch: string): string;
export function checkRelPath(rel: string): boolean;
export function sha256(buf: Buffer): string;
export function sha256File(file: string): string;
export function elfInfo(buf: Buffer): { bits: number; machine: number } | undefined;
export function nativeKind(buf: Buffer): { kind: 'abi'; abi?: number } | { kind: 'napi' } | { kind: 'none' };
export function nativeSummary(native: NativeModule[]): string[];
export function releaseFiles(o: {
  source: string;
  distDir: string;
  installerDir: string;
  nodeModules?: string;
  arch: string;
  extra?: FileEntry[];
}): { files: FileEntry[]; native: NativeModule[]; skipped: string[]; notes: string[] };
export function hashFiles(files: FileEntry[], base?: string): Record<string, FileRecord>;
export function contentHash(fileMap: Record<string, FileRecord>): string;
export function makeManifest(meta: ManifestMeta, fileMap: Record<string, FileRecord>, native: NativeModule[]): Manifest;
export function manifestBytes(m: Manifest): Buffer;
export function parseManifest(bytes: Buffer): Manifest;
export function loadPublicKeys(file: string): PublicKey[];
export function keyId(key: KeyObject): string;
export function signManifest(bytes: Buffer, privateKey: KeyObject): Buffer;
export function verifySignature(bytes: Buffer, sig: Buffer, keys: PublicKey[]): string;
export function compatProblems(m: Manifest, here?: { arch: string; abi: number; node: string }): string[];
export function treeProblems(dir: string, m: Manifest): string[];
export function listSome(items: string[], n?: number): string;
export function gitDescribe(dir: string): { describe: string; dirty: boolean; commit: string; time: number } | undefined;
