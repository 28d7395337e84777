import { isDigest } from './digest.js';
import { ImageFormatError } from './errors.js';

// Small structural checks for untrusted JSON. Each names the field path it rejects,
// so a bad manifest from a registry or an archive says exactly what is wrong.

export type Json = Record<string, unknown>;

export function object(v: unknown, field: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ImageFormatError(field, 'must be an object');
  return v as Json;
}

export function optionalObject(v: unknown, field: string): Json | undefined {
  return v === undefined || v === null ? undefined : object(v, field);
}

export function string(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new ImageFormatError(field, 'must be a string');
  return v;
}

export function optionalString(v: unknown, field: string): string | undefined {
  return v === undefined ? undefined : string(v, field);
}

export function integer(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ImageFormatError(field, 'must be a non-negative integer');
  return v;
}

export function digest(v: unknown, field: string): `${string}:${string}` {
  if (!isDigest(v)) throw new ImageFormatError(field, `invalid digest ${JSON.stringify(v)?.slice(0, 100)}`);
  return v;
}

export function array(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw new ImageFormatError(field, 'must be an array');
  return v;
}

export function optionalArray(v: unknown, field: string): unknown[] | undefined {
  return v === undefined || v === null ? undefined : array(v, field);
}

export function stringMap(v: unknown, field: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  const o = object(v, field);
  for (const [k, val] of Object.entries(o)) string(val, `${field}.${k}`);
  return o as Record<string, string>;
}

export function parseJson(bytes: Uint8Array | string, what: string): unknown {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ImageFormatError(what, `not valid JSON (${(e as Error).message})`);
  }
}
