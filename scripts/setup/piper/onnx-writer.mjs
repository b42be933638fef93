// Minimal ONNX (protobuf) writer: just enough of onnx.proto to describe small inference graphs.
// Node builtins only, because setup modules run right after `npm ci` with nothing else available.
// Field numbers follow onnx/onnx.proto (proto2); repeated scalars are written unpacked, which
// every protobuf parser (including onnxruntime's protobuf-lite) accepts.

/** ONNX TensorProto.DataType values used here. */
export const DataType = Object.freeze({ FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9 });

const AttributeType = Object.freeze({ FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 });

class Writer {
  constructor() {
    this.chunks = [];
    this.length = 0;
  }

  push(buf) {
    this.chunks.push(buf);
    this.length += buf.length;
  }

  varint(value) {
    // int64 two's complement for negatives, as protobuf requires for int32/int64 fields.
    let v = BigInt.asUintN(64, BigInt(value));
    const bytes = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v !== 0n);
    this.push(Buffer.from(bytes));
  }

  key(field, wireType) {
    this.varint((field << 3) | wireType);
  }

  int(field, value) {
    this.key(field, 0);
    this.varint(value);
  }

  float(field, value) {
    this.key(field, 5);
    const b = Buffer.alloc(4);
    b.writeFloatLE(value, 0);
    this.push(b);
  }

  bytes(field, buf) {
    this.key(field, 2);
    this.varint(buf.length);
    this.push(buf);
  }

  string(field, value) {
    this.bytes(field, Buffer.from(value, 'utf8'));
  }

  message(field, encode) {
    const inner = new Writer();
    encode(inner);
    this.key(field, 2);
    this.varint(inner.length);
    for (const c of inner.chunks) this.push(c);
  }

  finish() {
    return Buffer.concat(this.chunks, this.length);
  }
}

function typedArrayBytes(data) {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function encodeTensor(w, tensor) {
  for (const d of tensor.dims) w.int(1, d);
  w.int(2, tensor.dataType);
  if (tensor.name) w.string(8, tensor.name);
  // raw_data is little-endian, which is what typed arrays are on every platform we run on.
  w.bytes(9, typedArrayBytes(tensor.data));
}

function dataTypeOf(data) {
  if (data instanceof Float32Array) return DataType.FLOAT;
  if (data instanceof BigInt64Array) return DataType.INT64;
  if (data instanceof Int32Array) return DataType.INT32;
  throw new Error(`onnx-writer: unsupported tensor data ${data?.constructor?.name}`);
}

/** Tensor helpers. `dims` may be [] for a scalar. */
export function tensor(dims, data, name) {
  return { dims, data, dataType: dataTypeOf(data), name };
}
export const f32 = (dims, values, name) => tensor(dims, Float32Array.from(values), name);
export const i64 = (dims, values, name) =>
  tensor(
    dims,
    BigInt64Array.from(values, (v) => BigInt(v)),
    name,
  );

/** Attribute helpers: ONNX attributes are typed, JS numbers are not. */
export const attr = {
  i: (value) => ({ type: AttributeType.INT, value }),
  f: (value) => ({ type: AttributeType.FLOAT, value }),
  s: (value) => ({ type: AttributeType.STRING, value }),
  ints: (value) => ({ type: AttributeType.INTS, value }),
  floats: (value) => ({ type: AttributeType.FLOATS, value }),
  t: (value) => ({ type: AttributeType.TENSOR, value }),
};

function encodeAttribute(w, name, a) {
  w.string(1, name);
  w.int(20, a.type);
  switch (a.type) {
    case AttributeType.FLOAT:
      w.float(2, a.value);
      break;
    case AttributeType.INT:
      w.int(3, a.value);
      break;
    case AttributeType.STRING:
      w.bytes(4, Buffer.from(a.value, 'utf8'));
      break;
    case AttributeType.TENSOR:
      w.message(5, (t) => encodeTensor(t, a.value));
      break;
    case AttributeType.FLOATS:
      for (const v of a.value) w.float(7, v);
      break;
    case AttributeType.INTS:
      for (const v of a.value) w.int(8, v);
      break;
    default:
      throw new Error(`onnx-writer: unsupported attribute type ${a.type}`);
  }
}

function encodeValueInfo(w, vi) {
  w.string(1, vi.name);
  w.message(2, (type) =>
    type.message(1, (tt) => {
      tt.int(1, vi.elemType);
      tt.message(2, (shape) => {
        for (const d of vi.dims) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

/**
 * Builds a GraphProto. Node outputs get unique names automatically; `node()` returns them so
 * graphs read like straight-line code.
 */
export class GraphBuilder {
  constructor(name) {
    this.name = name;
    this.nodes = [];
    this.inputs = [];
    this.outputs = [];
    this.initializers = [];
    this.counter = 0;
  }

  input(name, elemType, dims) {
    this.inputs.push({ name, elemType, dims });
    return name;
  }

  output(name, elemType, dims) {
    this.outputs.push({ name, elemType, dims });
    return name;
  }

  /** Adds a constant (initializer) and returns its name. */
  constant(t, hint = 'c') {
    const name = t.name ?? `${hint}_${this.counter++}`;
    this.initializers.push({ ...t, name });
    return name;
  }

  /**
   * Adds a node. `outputs` is a count or a list of names; returns the output name(s).
   */
  node(opType, inputs, attrs = {}, outputs = 1) {
    const outs =
      typeof outputs === 'number'
        ? Array.from(
            { length: outputs },
            (_, k) => `${opType.toLowerCase()}_${this.counter++}_${k}`,
          )
        : outputs;
    this.nodes.push({
      opType,
      inputs,
      outputs: outs,
      attrs,
      name: `n${this.nodes.length}_${opType}`,
    });
    return outs.length === 1 ? outs[0] : outs;
  }

  encode(w) {
    for (const n of this.nodes) {
      w.message(1, (nw) => {
        for (const i of n.inputs) nw.string(1, i);
        for (const o of n.outputs) nw.string(2, o);
        nw.string(3, n.name);
        nw.string(4, n.opType);
        for (const [k, a] of Object.entries(n.attrs))
          nw.message(5, (aw) => encodeAttribute(aw, k, a));
      });
    }
    w.string(2, this.name);
    for (const t of this.initializers) w.message(5, (tw) => encodeTensor(tw, t));
    for (const vi of this.inputs) w.message(11, (vw) => encodeValueInfo(vw, vi));
    for (const vi of this.outputs) w.message(12, (vw) => encodeValueInfo(vw, vi));
  }
}

/**
 * Serialises a ModelProto. `metadata` becomes metadata_props (string key/value pairs).
 */
export function encodeModel(
  graph,
  { opset = 15, irVersion = 8, producer = 'parley', metadata = {} } = {},
) {
  const w = new Writer();
  w.int(1, irVersion);
  w.string(2, producer);
  w.string(3, '1');
  w.message(7, (gw) => graph.encode(gw));
  w.message(8, (ow) => {
    ow.string(1, '');
    ow.int(2, opset);
  });
  for (const [k, v] of Object.entries(metadata)) {
    w.message(14, (mw) => {
      mw.string(1, k);
      mw.string(2, String(v));
    });
  }
  return w.finish();
}
