// The tiny deterministic Piper fixture voice: exactly Piper's ONNX signature, but instead of a
// VITS network it renders one sine tone per phoneme id, so tests can assert sample counts and
// even sample values exactly:
//
//   L      = max(1, round_half_even(length_scale * SAMPLES_PER_ID))   samples per phoneme id
//   f(id)  = BASE_HZ + STEP_HZ * id (+ SPEAKER_STEP_HZ * sid for the multi-speaker variant)
//   A      = 0.2 + 0.3 * noise_scale + 0.1 * noise_w     (asymmetric, so a swapped scales order shows)
//   out[i*L + n] = A * sin(2*pi * f(ids[i]) * n / SAMPLE_RATE),  n = 0..L-1
//
// Output shape [1, 1, 1, N*L]. `input_lengths` is accepted (as Piper requires it) but the
// fixture always renders all N ids.
import { DataType, GraphBuilder, attr, encodeModel, f32, i64 } from './onnx-writer.mjs';
import { piperPhonemeIdMap } from './phoneme-id-map.mjs';

export const FIXTURE = Object.freeze({
  SAMPLE_RATE: 22050,
  SAMPLES_PER_ID: 256,
  BASE_HZ: 200,
  STEP_HZ: 10,
  SPEAKER_STEP_HZ: 50,
});

/** Piper's model inputs, declared exactly as a Piper export declares them. */
export function declarePiperInputs(g, { multiSpeaker }) {
  g.input('input', DataType.INT64, ['batch_size', 'phonemes']);
  g.input('input_lengths', DataType.INT64, ['batch_size']);
  g.input('scales', DataType.FLOAT, [3]);
  if (multiSpeaker) g.input('sid', DataType.INT64, ['batch_size']);
}

/** Returns the serialised ONNX model (a Buffer). */
export function buildFixtureModel({ multiSpeaker = false } = {}) {
  const g = new GraphBuilder(multiSpeaker ? 'parley_fixture_multi' : 'parley_fixture');
  declarePiperInputs(g, { multiSpeaker });

  const scalar = (v) => g.constant(f32([], [v]));
  const idx = (v) => g.constant(i64([], [v]));

  // Per-id frequency as a column [N, 1].
  const idsF = g.node('Cast', ['input'], { to: attr.i(DataType.FLOAT) });
  const idsCol = g.node('Reshape', [idsF, g.constant(i64([2], [-1, 1]))]);
  let freq = g.node('Add', [
    g.node('Mul', [idsCol, scalar(FIXTURE.STEP_HZ)]),
    scalar(FIXTURE.BASE_HZ),
  ]);
  if (multiSpeaker) {
    const sidF = g.node('Cast', ['sid'], { to: attr.i(DataType.FLOAT) });
    freq = g.node('Add', [freq, g.node('Mul', [sidF, scalar(FIXTURE.SPEAKER_STEP_HZ)])]);
  }

  // Samples per id from length_scale (scales[1]).
  const noiseScale = g.node('Gather', ['scales', idx(0)], { axis: attr.i(0) });
  const lengthScale = g.node('Gather', ['scales', idx(1)], { axis: attr.i(0) });
  const noiseW = g.node('Gather', ['scales', idx(2)], { axis: attr.i(0) });
  const perId = g.node('Max', [
    g.node('Round', [g.node('Mul', [lengthScale, scalar(FIXTURE.SAMPLES_PER_ID)])]),
    scalar(1),
  ]);
  const n = g.node('Range', [scalar(0), perId, scalar(1)]);
  const nRow = g.node('Unsqueeze', [n, g.constant(i64([1], [0]))]);

  // Tone matrix [N, L] scaled by the amplitude, flattened to [1, 1, 1, N*L].
  const phase = g.node('Mul', [
    g.node('Mul', [freq, nRow]),
    scalar((2 * Math.PI) / FIXTURE.SAMPLE_RATE),
  ]);
  const amplitude = g.node('Add', [
    scalar(0.2),
    g.node('Add', [g.node('Mul', [noiseScale, scalar(0.3)]), g.node('Mul', [noiseW, scalar(0.1)])]),
  ]);
  const wave = g.node('Mul', [g.node('Sin', [phase]), amplitude]);
  g.node('Reshape', [wave, g.constant(i64([4], [1, 1, 1, -1]))], {}, ['output']);
  g.output('output', DataType.FLOAT, ['batch_size', 1, 1, 'time']);

  return encodeModel(g, {
    metadata: { parley_fixture: '1', description: 'Parley Piper fixture: one tone per phoneme id' },
  });
}

/**
 * A Piper voice config (.onnx.json) shaped like a real Piper voice's, plus a `parley_fixture`
 * block that documents the tone formula (Piper ignores unknown keys).
 */
export function buildVoiceConfig({
  name,
  multiSpeaker = false,
  quality = 'x_low',
  fixture = true,
}) {
  const map = piperPhonemeIdMap();
  const config = {
    dataset: name,
    audio: { sample_rate: FIXTURE.SAMPLE_RATE, quality },
    espeak: { voice: 'en-us' },
    language: {
      code: 'en_US',
      family: 'en',
      region: 'US',
      name_native: 'English',
      name_english: 'English',
      country_english: 'United States',
    },
    inference: { noise_scale: 0.667, length_scale: 1, noise_w: 0.8 },
    phoneme_type: 'espeak',
    phoneme_map: {},
    phoneme_id_map: map,
    num_symbols: 256,
    num_speakers: multiSpeaker ? 2 : 1,
    speaker_id_map: multiSpeaker ? { alice: 0, bob: 1 } : {},
    piper_version: '1.0.0',
  };
  if (fixture) {
    config.parley_fixture = {
      samples_per_id: FIXTURE.SAMPLES_PER_ID,
      base_hz: FIXTURE.BASE_HZ,
      step_hz: FIXTURE.STEP_HZ,
      speaker_step_hz: multiSpeaker ? FIXTURE.SPEAKER_STEP_HZ : 0,
      amplitude: '0.2 + 0.3*noise_scale + 0.1*noise_w',
    };
  }
  return config;
}
