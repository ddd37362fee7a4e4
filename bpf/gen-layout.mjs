#!/usr/bin/env node
// Derive a gadget's RecordLayout (gadgets/framework/types.ts) from the BTF of its object.
//
// usage: node bpf/gen-layout.mjs OBJ OUT.json
//
// The record struct is the one named by GADGET_EVENT(type) in the program, which leaves a
// variable `__gadget_event_<type>` (pointer to it) in BTF; exactly one must exist.
// Rules: typedef/const/volatile/restrict are looked through; nested structs and unions are
// flattened into their members (names kept as they are, duplicates are an error); ints and enums
// map to u8..s64, _Bool to bool; char[N] to cstring; a trailing char[] (flexible) to bytes; other
// int arrays to array. Members whose name starts with `__` (padding) are left out. Anything else
// (pointers, floats, bitfields, nested arrays, ...) fails the build.
import { execFileSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';

const [obj, out] = process.argv.slice(2);
if (!obj || !out) {
  console.error('usage: gen-layout.mjs OBJ OUT.json');
  process.exit(2);
}

function fail(msg) {
  console.error(`gen-layout: ${obj}: ${msg}`);
  process.exit(1);
}

const bpftool = process.env.BPFTOOL || 'bpftool';
let btf;
try {
  btf = JSON.parse(
    execFileSync(bpftool, ['-j', 'btf', 'dump', 'file', obj], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    }),
  );
} catch (e) {
  fail(`bpftool btf dump failed: ${e.message}`);
}

const types = new Map(btf.types.map((t) => [t.id, t]));
const MODIFIERS = new Set(['TYPEDEF', 'CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG']);

function resolve(id) {
  let t = types.get(id);
  while (t && MODIFIERS.has(t.kind)) t = types.get(t.type_id);
  if (!t) fail(`dangling BTF type id ${id}`);
  return t;
}

const PREFIX = '__gadget_event_';
const marks = btf.types.filter((t) => t.kind === 'VAR' && t.name.startsWith(PREFIX));
if (marks.length !== 1) {
  fail(
    marks.length === 0
      ? 'no GADGET_EVENT(type) in the program'
      : `several GADGET_EVENT markers: ${marks.map((m) => m.name).join(', ')}`,
  );
}
const structName = marks[0].name.slice(PREFIX.length);
const ptr = resolve(marks[0].type_id);
const root = ptr.kind === 'PTR' ? resolve(ptr.type_id) : ptr;
if (root.kind !== 'STRUCT' || root.name !== structName) {
  fail(`${marks[0].name} does not point to struct ${structName}`);
}

function intKind(t, where) {
  if (t.kind === 'INT') {
    if (t.bits_offset || t.nr_bits !== t.size * 8) fail(`${where}: odd-sized int`);
    if (t.encoding === 'BOOL') {
      if (t.size !== 1) fail(`${where}: bool of size ${t.size}`);
      return 'bool';
    }
    const signed = t.encoding === 'SIGNED';
    return scalar(t.size, signed, where);
  }
  if (t.kind === 'ENUM' || t.kind === 'ENUM64') {
    return scalar(t.size, t.encoding === 'SIGNED', where);
  }
  return null;
}

function scalar(size, signed, where) {
  if (![1, 2, 4, 8].includes(size)) fail(`${where}: int of size ${size}`);
  return `${signed ? 's' : 'u'}${size * 8}`;
}

const fields = [];
const seen = new Set();
const topMembers = root.members.length;

function add(field) {
  if (field.name.startsWith('__')) return;
  if (seen.has(field.name)) fail(`duplicate field name ${field.name} after flattening`);
  seen.add(field.name);
  fields.push(field);
}

function walk(struct, base, top) {
  struct.members.forEach((m, i) => {
    const where = `${structName}.${m.name}`;
    if (m.bitfield_size) fail(`${where}: bitfields are not supported`);
    if (m.bits_offset % 8) fail(`${where}: not byte aligned`);
    const offset = base + m.bits_offset / 8;
    const t = resolve(m.type_id);
    if (t.kind === 'STRUCT' || t.kind === 'UNION') {
      walk(t, offset, false);
      return;
    }
    const k = intKind(t, where);
    if (k) {
      add({ name: m.name, kind: k, offset, size: t.size });
      return;
    }
    if (t.kind === 'ARRAY') {
      const elem = resolve(t.type_id);
      const ek = intKind(elem, where);
      if (!ek || ek === 'bool')
        fail(`${where}: array of ${elem.kind} ${elem.name} is not supported`);
      const isChar = elem.kind === 'INT' && elem.name === 'char';
      if (t.nr_elems === 0) {
        if (!top || i !== topMembers - 1) fail(`${where}: zero-length array not at the end`);
        if (elem.size !== 1)
          fail(`${where}: flexible array of ${elem.name} (only 1-byte elements -> bytes)`);
        add({ name: m.name, kind: 'bytes', offset, size: 0 });
        return;
      }
      if (isChar) {
        add({ name: m.name, kind: 'cstring', offset, size: t.nr_elems });
        return;
      }
      add({
        name: m.name,
        kind: 'array',
        offset,
        size: t.nr_elems * elem.size,
        elem: ek,
        count: t.nr_elems,
      });
      return;
    }
    fail(`${where}: ${t.kind} members are not supported`);
  });
}

walk(root, 0, true);

const layout = { struct: structName, size: root.size, fields };
const tmp = `${out}.tmp`;
writeFileSync(tmp, JSON.stringify(layout, null, 2) + '\n');
renameSync(tmp, out);
