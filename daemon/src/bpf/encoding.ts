// Values of globals and map keys/values: integers encoded little-endian per their size and
// signedness, bytes exactly sized, strings zero-padded.

import { bpfError } from './errors.js';
import type { NativeGlobalInfo } from './native.js';

/** Value of a global: integers per the variable's BTF size, bytes exactly sized, strings zero-padded. */
export type GlobalValue = number | bigint | boolean | Uint8Array | string;

/** A map key or value: bytes of exactly the map's size, or an integer encoded little-endian. */
export type MapBytes = Uint8Array | number | bigint | boolean;

function encodeInt(
  v: number | bigint | boolean,
  size: number,
  signed: boolean,
  what: string,
): Buffer {
  if (size < 1 || size > 8) {
    throw bpfError(`${what}: cannot encode an integer into ${size} bytes`, 'EINVAL');
  }
  let b: bigint;
  if (typeof v === 'boolean') b = v ? 1n : 0n;
  else if (typeof v === 'bigint') b = v;
  else {
    if (!Number.isSafeInteger(v)) throw bpfError(`${what}: ${v} is not a safe integer`, 'EINVAL');
    b = BigInt(v);
  }
  const bits = BigInt(size * 8);
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (b < min || b > max) {
    throw bpfError(
      `${what}: ${b} does not fit in ${signed ? 'a signed' : 'an unsigned'} ${size}-byte integer`,
      'ERANGE',
    );
  }
  let u = BigInt.asUintN(size * 8, b);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) {
    out[i] = Number(u & 0xffn);
    u >>= 8n;
  }
  return out;
}

/** Encodes a global's value per its BTF description (exported for tests). */
export function encodeGlobal(info: NativeGlobalInfo, value: GlobalValue): Buffer {
  const what = `set global ${info.name}`;
  if (value instanceof Uint8Array) {
    if (value.length !== info.size) {
      throw bpfError(
        `${what}: value has ${value.length} bytes, variable has ${info.size}`,
        'EINVAL',
      );
    }
    return Buffer.from(value);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length > info.size) {
      throw bpfError(`${what}: "${value}" is longer than ${info.size} bytes`, 'ERANGE');
    }
    const out = Buffer.alloc(info.size);
    bytes.copy(out);
    return out;
  }
  const scalar = ['int', 'bool', 'char', 'enum'].includes(info.kind);
  if (!scalar) {
    throw bpfError(`${what}: a ${info.kind} variable needs a Uint8Array value`, 'EINVAL');
  }
  return encodeInt(value, info.size, info.signed, what);
}

export function encodeMapBytes(v: MapBytes, size: number, what: string): Uint8Array {
  if (v instanceof Uint8Array) {
    if (v.length !== size)
      throw bpfError(`${what} has ${v.length} bytes, map needs ${size}`, 'EINVAL');
    return v;
  }
  return encodeInt(v, size, typeof v !== 'boolean' && v < 0, what);
}
