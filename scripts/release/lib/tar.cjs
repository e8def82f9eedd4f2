'use strict';
// The tar format of release bundles, read and written here rather than by tar(1), so that a
// bundle is checked entry by entry while it is read: a name that is not in the signed manifest,
// a link, a device node or a path outside the bundle is refused before anything is written.
//
// Written: POSIX ustar, regular files only, owner root (0:0), a fixed mtime, with a pax header
// for a name that does not fit ustar's 100+155 bytes. Read: ustar and pax names, GNU long names
// (a bundle repacked with GNU tar), directories (skipped: they are implied); every other kind
// of entry (hard or symbolic link, device, fifo, sparse file...) is an error.
const zlib = require('zlib');

const BLOCK = 512;

class TarError extends Error {}

function octal(buf, offset, length, value) {
  const text = value.toString(8).padStart(length - 1, '0');
  if (text.length > length - 1) throw new TarError(`tar: ${value} does not fit ${length - 1} octal digits`);
  buf.write(text, offset, length - 1, 'ascii');
  buf[offset + length - 1] = 0;
}

function checksum(header) {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return sum;
}

/** ustar splits a long name into prefix (155) "/" name (100) at a slash; undefined when it cannot. */
function splitName(name) {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) return { prefix, name: rest };
  }
  return undefined;
}

function header(name, size, mode, mtime, type) {
  const h = Buffer.alloc(BLOCK);
  const split = splitName(name);
  if (!split) throw new TarError(`tar: name too long for a ustar header: ${name}`);
  h.write(split.name, 0, 100, 'utf8');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h[156] = type.charCodeAt(0);
  h.write('ustar\u000000', 257, 8, 'binary');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  h.write(split.prefix, 345, 155, 'utf8');
  octal(h, 148, 8, checksum(h));
  return h;
}

function padding(size) {
  const rest = size % BLOCK;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rest);
}

/** A pax record "<len> path=<name>\n", whose length counts its own digits. */
function paxPath(name) {
  const body = ` path=${name}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return Buffer.from(`${len}${body}`, 'utf8');
}

/**
 * Writes a gzipped tar of `entries` ({ name, data: Buffer } or { name, file, size }) in the order
 * given to the writable stream `out`; resolves when it is flushed.
 * Files are read with fs.readFileSync one at a time (the largest file of a bundle is a few MB).
 */
function writeTarGz(entries, out, opts = {}) {
  const fs = require('fs');
  const mtime = opts.mtime ?? 0;
  const gzip = zlib.createGzip({ level: opts.level ?? 9 });
  const done = new Promise((resolve, reject) => {
    out.on('error', reject);
    gzip.on('error', reject);
    out.on('finish', resolve);
    out.on('close', resolve);
  });
  gzip.pipe(out);
  const push = (buf) => {
    if (buf.length) gzip.write(buf);
  };
  return (async () => {
    for (const e of entries) {
      const data = e.data ?? fs.readFileSync(e.file);
      if (e.size !== undefined && data.length !== e.size) throw new TarError(`tar: ${e.file} changed while the bundle was written`);
      if (!splitName(e.name)) {
        const pax = paxPath(e.name);
        push(header('PaxHeaders/' + e.name.slice(-80).replace(/^[^/]*\//, ''), pax.length, 0o644, mtime, 'x'));
        push(pax);
        push(padding(pax.length));
        push(header(e.name.slice(-100).replace(/^[^/]*\//, ''), data.length, e.mode ?? 0o644, mtime, '0'));
      } else {
        push(header(e.name, data.length, e.mode ?? 0o644, mtime, '0'));
      }
      push(data);
      push(padding(data.length));
      // Let the gzip stream drain so a large bundle is not held in memory.
      if (gzip.writableNeedDrain) await new Promise((resolve) => gzip.once('drain', resolve));
    }
    push(Buffer.alloc(BLOCK * 2));
    gzip.end();
    await done;
  })();
}

function cString(buf, start, length) {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end === -1 || end > start + length ? start + length : end);
}

function parseNumber(buf, start, length, what) {
  if (buf[start] & 0x80) {
    // base-256 (GNU, for values beyond the octal field)
    let n = 0;
    for (let i = start + 1; i < start + length; i++) n = n * 256 + buf[i];
    return n;
  }
  const text = cString(buf, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`not a tar file (bad ${what} field)`);
  return parseInt(text, 8);
}

function parsePax(data) {
  const out = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const len = parseInt(data.toString('ascii', at, space), 10);
    if (!(len > 0) || at + len > data.length) throw new TarError('not a tar file (bad pax header)');
    const record = data.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}

const KINDS = { 1: 'hard link', 2: 'symbolic link', 3: 'character device', 4: 'block device', 6: 'fifo', 7: 'contiguous file', S: 'sparse file' };

/**
 * Reads a gzipped tar from the readable stream `input`. For every regular file it calls
 * `onFile(name, size, mode)`, which returns a sink { write(chunk), end() } (or undefined to read
 * past the data); directories are reported to `onDir(name)`. Anything else throws TarError.
 */
async function readTarGz(input, { onFile, onDir }) {
  const gunzip = zlib.createGunzip();
  input.on('error', (err) => gunzip.destroy(err));
  input.pipe(gunzip);
  let pending = [];
  let pendingLength = 0;
  let state = 'header';
  let remaining = 0;
  let pad = 0;
  let sink;
  let longName;
  let paxName;
  let meta; // collecting an 'x' or 'L' entry's data
  let metaChunks = [];
  let ended = false;

  const take = (n) => {
    const all = pending.length === 1 ? pending[0] : Buffer.concat(pending);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    pending = rest.length ? [rest] : [];
    pendingLength = rest.length;
    return head;
  };

  const startEntry = (h) => {
    if (h.every((b) => b === 0)) {
      ended = true;
      return;
    }
    const stored = parseNumber(h, 148, 8, 'checksum');
    if (stored !== checksum(h)) throw new TarError('not a tar file, or a damaged one (header checksum mismatch)');
    const type = String.fromCharCode(h[156] || 0x30);
    const size = parseNumber(h, 124, 12, 'size');
    const mode = parseNumber(h, 100, 8, 'mode');
    let name = cString(h, 0, 100);
    const magic = h.toString('binary', 257, 263);
    if (magic === 'ustar\u0000') {
      const prefix = cString(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (paxName !== undefined) name = paxName;
    if (longName !== undefined) name = longName;
    remaining = size;
    pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (type === 'x' || type === 'L') {
      if (size > 1 << 20) throw new TarError('tar: oversized extended header');
      meta = type;
      metaChunks = [];
      state = 'data';
      return;
    }
    if (type === 'g') {
      meta = 'g';
      metaChunks = [];
      state = 'data';
      return;
    }
    paxName = undefined;
    longName = undefined;
    if (type === '0' || type === '\u0000') {
      sink = onFile(name, size, mode) || undefined;
      state = 'data';
    } else if (type === '5') {
      if (onDir) onDir(name);
      state = 'data';
    } else {
      throw new TarError(`${name}: a ${KINDS[type] || `tar entry of type "${type}"`}; a release bundle holds regular files only`);
    }
  };

  const finishEntry = () => {
    if (meta) {
      const data = Buffer.concat(metaChunks);
      if (meta === 'x') {
        const pax = parsePax(data);
        if (pax.path !== undefined) paxName = pax.path;
        if (pax.size !== undefined) throw new TarError('tar: pax size records are not supported (no file of a bundle is that large)');
      } else if (meta === 'L') {
        longName = cString(data, 0, data.length);
      }
      meta = undefined;
    } else if (sink) {
      sink.end();
      sink = undefined;
    }
    state = pad ? 'pad' : 'header';
  };

  try {
    await consume();
  } finally {
    // Stopped early (a refused entry): close the file.
    input.destroy();
    gunzip.destroy();
  }
  if (!ended || state !== 'header') throw new TarError('the bundle is truncated (the tar stream ends inside an entry, or has no end marker)');

  async function consume() {
    for await (const chunk of gunzip) {
      if (ended) continue; // trailing zero blocks and padding
      pending.push(chunk);
      pendingLength += chunk.length;
      for (;;) {
        if (ended) break;
        if (state === 'header') {
          if (pendingLength < BLOCK) break;
          startEntry(take(BLOCK));
          if (state === 'data' && remaining === 0) finishEntry();
        } else if (state === 'data') {
          if (pendingLength === 0) break;
          const piece = take(Math.min(remaining, pendingLength));
          remaining -= piece.length;
          if (meta) metaChunks.push(piece);
          else if (sink) sink.write(piece);
          if (remaining === 0) finishEntry();
        } else {
          // padding after the data
          if (pendingLength < pad) break;
          take(pad);
          pad = 0;
          state = 'header';
        }
      }
    }
  }
}

module.exports = { writeTarGz, readTarGz, TarError, splitName };
