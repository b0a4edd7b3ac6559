// Reads an hf-arrow export with Apache Arrow's own JavaScript reader, for
// the export tests: usage: node read_arrow.js DIR OUT. Follows DIR/state.json
// to the shards, reads each as an Arrow IPC stream, and writes OUT/COLUMN.bin
// (every shard's values of the column, in order, as raw little-endian bytes;
// a null token id as -1) and prints one JSON line: the schema as the reader
// sees it (types, list sizes, field metadata), rows and batches per shard,
// and null counts.
'use strict';
const fs = require('fs');
const path = require('path');
const { tableFromIPC } = require('apache-arrow');

const [dir, out] = process.argv.slice(2);
const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json')));
const parts = {};
const res = { shards: [], columns: null, nulls: {} };
for (const { filename } of state._data_files) {
	const t = tableFromIPC(fs.readFileSync(path.join(dir, filename)));
	const cols = t.schema.fields.map((f) => ({
		name: f.name, type: String(f.type), nullable: f.nullable,
		listSize: f.type.listSize ?? null,
		child: f.type.children ? f.type.children.map((c) => c.name + ':' + String(c.type)) : null,
		metadata: Object.fromEntries(f.metadata),
	}));
	if (res.columns === null)
		res.columns = cols;
	else if (JSON.stringify(cols) !== JSON.stringify(res.columns))
		throw new Error(filename + ': another schema than the first shard');
	res.shards.push({ file: filename, rows: t.numRows, batches: t.batches.length });
	for (const f of t.schema.fields) {
		const v = t.getChild(f.name);
		let a;
		if (f.type.listSize !== undefined) {
			a = v.getChildAt(0).toArray();
		} else {
			a = new BigInt64Array(v.length);
			for (let i = 0; i < v.length; i++) {
				const x = v.get(i);
				a[i] = x === null ? -1n : BigInt(x);
			}
		}
		res.nulls[f.name] = (res.nulls[f.name] ?? 0) + v.nullCount;
		(parts[f.name] ??= []).push(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
	}
}
for (const [name, bufs] of Object.entries(parts))
	fs.writeFileSync(path.join(out, name + '.bin'), Buffer.concat(bufs));
console.log(JSON.stringify(res));
