// Types of tar.cjs for the TypeScript side.
import type { Readable, Writable } from 'node:stream';

export class TarError extends Error {}
export type TarEntry = { name: string; mode?: number } & ({ data: Buffer } | { file: string; size?: number });
export function writeTarGz(entries: TarEntry[], out: Writable, opts?: { mtime?: number; level?: number }): Promise<void>;
export function readTarGz(
  input: Readable,
  handlers: {
    onFile: (name: string, size: number, mode: number) => { write(chunk: Buffer): void; end(): void } | undefined;
    onDir?: (name: string) => void;
  },
): Promise<void>;
export function splitName(name: string): { prefix: string; name: string } | undefined;
