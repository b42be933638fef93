// A "medium-size" Piper stand-in voice for benchmarks: Piper's exact ONNX signature and the
// layer shapes of a Piper *medium* VITS model (hidden 192, filter 768, 6 encoder layers with
// 2-head attention, 4 residual coupling flows of 4 WaveNet layers with kernel 5, HiFi-GAN
// generator with resblock "2", kernels 3/5/7, upsample 8/8/4 from 256 channels), filled with
// seeded random weights. It costs what a real medium voice costs (~15.6 M parameters, ~62 MB,
// same convolutions per output sample) but says nothing intelligible.
//
// Simplifications, all negligible in cost next to the decoder: attention has no relative
// position embeddings; the stochastic duration predictor is replaced by a fixed
// `round(length_scale * FRAMES_PER_ID)` frames per phoneme id (~2 frames = 23 ms per id is what a
// real medium voice averages on English, counting the pad ids); no channel flips between flows.
// Noise is real: RandomNormalLike scaled by noise_scale, as in VITS inference.
import { DataType, GraphBuilder, attr, encodeModel, f32, i64, tensor } from './onnx-writer.mjs';
import { declarePiperInputs } from './fixture-voice.mjs';

export const STANDIN = Object.freeze({
  SAMPLE_RATE: 22050,
  HOP: 256,
  FRAMES_PER_ID: 2,
  NUM_SYMBOLS: 256,
  HIDDEN: 192,
  FILTER: 768,
  HEADS: 2,
  ENCODER_LAYERS: 6,
  FLOWS: 4,
  FLOW_WN_LAYERS: 4,
  FLOW_KERNEL: 5,
  UPSAMPLE_INITIAL: 256,
  UPSAMPLE_RATES: [8, 8, 4],
  UPSAMPLE_KERNELS: [16, 16, 8],
  RESBLOCK_KERNELS: [3, 5, 7],
  RESBLOCK_DILATIONS: [
    [1, 2],
    [2, 6],
    [3, 12],
  ],
  SEED: 0x5eed_7715,
});

/** mulberry32: tiny, fast, good enough for weights; seeded so the file is byte-identical. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function buildStandinModel({ multiSpeaker = false } = {}) {
  const S = STANDIN;
  const rand = prng(S.SEED);
  let params = 0;
  const g = new GraphBuilder('parley_standin_medium');
  declarePiperInputs(g, { multiSpeaker });

  // Uniform init with variance gain^2/fan_in keeps activations O(1) through the stack, so no
  // NaNs or denormals (which would make the stand-in cheaper or dearer than a real voice).
  const weight = (dims, fanIn, gain = 1) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const bound = (Math.sqrt(3) * gain) / Math.sqrt(fanIn);
    for (let k = 0; k < n; k++) data[k] = (rand() * 2 - 1) * bound;
    params += n;
    return g.constant(tensor(dims, data), 'w');
  };
  const bias = (n) => {
    params += n;
    return g.constant(tensor([n], new Float32Array(n)), 'b');
  };
  const scalar = (v) => g.constant(f32([], [v]));
  const shape = (dims) => g.constant(i64([dims.length], dims));

  const conv1d = (x, cin, cout, k, { dilation = 1, withBias = true, gain = 1 } = {}) => {
    const pad = ((k - 1) * dilation) / 2;
    const inputs = [x, weight([cout, cin, k], cin * k, gain)];
    if (withBias) inputs.push(bias(cout));
    return g.node('Conv', inputs, {
      kernel_shape: attr.ints([k]),
      dilations: attr.ints([dilation]),
      pads: attr.ints([pad, pad]),
      strides: attr.ints([1]),
    });
  };
  const layerNormChannels = (x, c) => {
    // VITS normalises over channels of [B, C, T]: transpose, LayerNormalization, transpose back.
    const t = g.node('Transpose', [x], { perm: attr.ints([0, 2, 1]) });
    const gamma = g.constant(tensor([c], new Float32Array(c).fill(1)), 'ln_g');
    const n = g.node('LayerNormalization', [t, gamma, bias(c)], { axis: attr.i(-1) });
    return g.node('Transpose', [n], { perm: attr.ints([0, 2, 1]) });
  };

  // ---- Text encoder: [1, N] ids -> [1, H, N]
  const H = S.HIDDEN;
  const emb = weight([S.NUM_SYMBOLS, H], 1);
  let x = g.node('Gather', [emb, 'input'], { axis: attr.i(0) }); // [1, N, H]
  x = g.node('Mul', [x, scalar(Math.sqrt(H) / Math.sqrt(H))]);
  x = g.node('Transpose', [x], { perm: attr.ints([0, 2, 1]) }); // [1, H, N]
  const headDim = H / S.HEADS;
  for (let layer = 0; layer < S.ENCODER_LAYERS; layer++) {
    // Self-attention on [1, N, H].
    const xt = g.node('Transpose', [x], { perm: attr.ints([0, 2, 1]) });
    const proj = () => g.node('Add', [g.node('MatMul', [xt, weight([H, H], H)]), bias(H)]);
    const heads = (t) =>
      g.node('Transpose', [g.node('Reshape', [t, shape([1, -1, S.HEADS, headDim])])], {
        perm: attr.ints([0, 2, 1, 3]),
      }); // [1, heads, N, d]
    const q = heads(proj());
    const k = heads(proj());
    const v = heads(proj());
    const kt = g.node('Transpose', [k], { perm: attr.ints([0, 1, 3, 2]) });
    const scores = g.node('Mul', [g.node('MatMul', [q, kt]), scalar(1 / Math.sqrt(headDim))]);
    const attn = g.node('MatMul', [g.node('Softmax', [scores], { axis: attr.i(-1) }), v]);
    const merged = g.node('Reshape', [
      g.node('Transpose', [attn], { perm: attr.ints([0, 2, 1, 3]) }),
      shape([1, -1, H]),
    ]);
    const out = g.node('Add', [g.node('MatMul', [merged, weight([H, H], H)]), bias(H)]);
    x = layerNormChannels(
      g.node('Add', [x, g.node('Transpose', [out], { perm: attr.ints([0, 2, 1]) })]),
      H,
    );
    // Feed-forward: conv k3 H->F, relu, conv k3 F->H.
    const ff = conv1d(g.node('Relu', [conv1d(x, H, S.FILTER, 3)]), S.FILTER, H, 3);
    x = layerNormChannels(g.node('Add', [x, ff]), H);
  }
  const stats = conv1d(x, H, 2 * H, 1); // m_p and logs_p
  const [mP, logsP] = g.node(
    'Split',
    [stats, g.constant(i64([2], [H, H]))],
    { axis: attr.i(1) },
    2,
  );

  // ---- Length regulation: every id lasts round(length_scale * FRAMES_PER_ID) frames.
  const lengthScale = g.node('Gather', ['scales', g.constant(i64([], [1]))], { axis: attr.i(0) });
  const noiseScale = g.node('Gather', ['scales', g.constant(i64([], [0]))], { axis: attr.i(0) });
  const frames = g.node(
    'Cast',
    [
      g.node('Max', [
        g.node('Round', [g.node('Mul', [lengthScale, scalar(S.FRAMES_PER_ID)])]),
        scalar(1),
      ]),
    ],
    { to: attr.i(DataType.INT64) },
  );
  const framesVec = g.node('Reshape', [frames, shape([1])]);
  const expand = (t) => {
    const u = g.node('Unsqueeze', [t, g.constant(i64([1], [3]))]); // [1, H, N, 1]
    const target = g.node('Concat', [g.constant(i64([3], [1, H, 1])), framesVec], {
      axis: attr.i(0),
    });
    return g.node('Reshape', [g.node('Expand', [u, target]), shape([1, H, -1])]); // [1, H, N*F]
  };
  const m = expand(mP);
  const logs = expand(logsP);
  const noise = g.node('RandomNormalLike', [m], { dtype: attr.i(DataType.FLOAT), seed: attr.f(7) });
  // Real VITS: z_p = m_p + randn * exp(logs_p) * noise_scale. logs_p is tamed to stay O(1).
  let z = g.node('Add', [
    m,
    g.node('Mul', [g.node('Mul', [noise, g.node('Exp', [g.node('Tanh', [logs])])]), noiseScale]),
  ]);

  // ---- Flows (reverse): residual coupling layers with a WaveNet of gated convolutions.
  const half = H / 2;
  for (let f = 0; f < S.FLOWS; f++) {
    const [x0, x1] = g.node(
      'Split',
      [z, g.constant(i64([2], [half, half]))],
      { axis: attr.i(1) },
      2,
    );
    let h = conv1d(x0, half, H, 1);
    let skip = null;
    for (let l = 0; l < S.FLOW_WN_LAYERS; l++) {
      const xin = conv1d(h, H, 2 * H, S.FLOW_KERNEL);
      const [a, b] = g.node('Split', [xin, g.constant(i64([2], [H, H]))], { axis: attr.i(1) }, 2);
      const acts = g.node('Mul', [g.node('Tanh', [a]), g.node('Sigmoid', [b])]);
      const last = l === S.FLOW_WN_LAYERS - 1;
      const rs = conv1d(acts, H, last ? H : 2 * H, 1);
      let skipPart = rs;
      if (!last) {
        const [res, sk] = g.node(
          'Split',
          [rs, g.constant(i64([2], [H, H]))],
          { axis: attr.i(1) },
          2,
        );
        h = g.node('Add', [h, res]);
        skipPart = sk;
      }
      skip = skip ? g.node('Add', [skip, skipPart]) : skipPart;
    }
    const mean = conv1d(skip, H, half, 1, { gain: 0.1 });
    z = g.node('Concat', [x0, g.node('Sub', [x1, mean])], { axis: attr.i(1) });
  }

  // ---- HiFi-GAN generator, resblock "2".
  let y = conv1d(z, H, S.UPSAMPLE_INITIAL, 7);
  let ch = S.UPSAMPLE_INITIAL;
  S.UPSAMPLE_RATES.forEach((rate, i) => {
    const k = S.UPSAMPLE_KERNELS[i];
    const out = ch / 2;
    y = g.node('LeakyRelu', [y], { alpha: attr.f(0.1) });
    y = g.node('ConvTranspose', [y, weight([ch, out, k], ch * (k / rate)), bias(out)], {
      kernel_shape: attr.ints([k]),
      strides: attr.ints([rate]),
      pads: attr.ints([(k - rate) / 2, (k - rate) / 2]),
    });
    ch = out;
    let sum = null;
    S.RESBLOCK_KERNELS.forEach((rk, j) => {
      let r = y;
      for (const d of S.RESBLOCK_DILATIONS[j]) {
        const t = conv1d(g.node('LeakyRelu', [r], { alpha: attr.f(0.1) }), ch, ch, rk, {
          dilation: d,
          gain: 0.5,
        });
        r = g.node('Add', [t, r]);
      }
      sum = sum ? g.node('Add', [sum, r]) : r;
    });
    y = g.node('Mul', [sum, scalar(1 / S.RESBLOCK_KERNELS.length)]);
  });
  y = g.node('LeakyRelu', [y], { alpha: attr.f(0.01) });
  y = g.node('Tanh', [conv1d(y, ch, 1, 7, { withBias: false })]);
  g.node('Reshape', [y, shape([1, 1, 1, -1])], {}, ['output']);
  g.output('output', DataType.FLOAT, ['batch_size', 1, 1, 'time']);

  const model = encodeModel(g, {
    opset: 17,
    metadata: {
      parley_standin: '1',
      description: 'Parley Piper medium-size stand-in, random weights',
    },
  });
  return { model, params };
}
