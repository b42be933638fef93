// Source patches that let the mediasoup 3.15.x worker build against Debian 12's system libraries
// (no subproject downloads) and survive Debian's kTLS-enabled OpenSSL. Node builtins only.
//
// Every patch asserts that it found what it replaces: when mediasoup changes upstream, the build
// fails here with a message naming the file, instead of compiling something half-patched.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Replaces `from` with `to`; throws unless found exactly once (with `all`: at least once). */
function replaceExact(text, from, to, file, { all = false } = {}) {
  const hits = text.split(from).length - 1;
  if (hits === 0 || (!all && hits !== 1)) {
    throw new Error(
      `mediasoup patch: expected ${all ? 'at least one' : 'exactly one'} occurrence of ` +
        `${JSON.stringify(from.slice(0, 80))} in ${file}, found ${hits}`,
    );
  }
  return all ? text.split(from).join(to) : text.replace(from, () => to);
}

async function patchFile(dir, file, fn) {
  const path = join(dir, file);
  const before = await readFile(path, 'utf8');
  const after = fn(before, file);
  await writeFile(path, after);
}

// Abseil components the worker and libwebrtc include (flat/node hash containers, btree,
// inlined_vector, memory, strings, optional). Debian ships one .pc file per component.
const ABSL_COMPONENTS = [
  'absl_flat_hash_map',
  'absl_flat_hash_set',
  'absl_node_hash_map',
  'absl_btree',
  'absl_inlined_vector',
  'absl_memory',
  'absl_strings',
  'absl_optional',
];

/**
 * The top-level meson.build calls subproject() for every library, so meson options cannot switch
 * to system libraries. We keep the upstream head (project(), options, cpp_args, the source list)
 * and replace everything from the first subproject() on with pkg-config dependencies and the single
 * target we need (tests/fuzzers need catch2 and sanitizers, which we do not build).
 */
function rewriteTopMeson(text, file) {
  let head = replaceExact(text, "meson_version: '>= 1.1.0'", "meson_version: '>= 1.0.0'", file);
  const cut = head.indexOf('openssl_proj = subproject(');
  if (cut < 0) throw new Error(`mediasoup patch: no "openssl_proj = subproject(" in ${file}`);
  head = head.slice(0, cut);
  const abslVars = ABSL_COMPONENTS.map((c) => `${c}_dep = dependency('${c}')`).join('\n');
  const absl = ABSL_COMPONENTS.map((c) => `  ${c}_dep,`).join('\n');
  const tail = `
# --- Parley: system libraries through pkg-config instead of downloaded subprojects ---
openssl_dep = dependency('openssl', version: '>= 1.1.1')
libuv_dep = dependency('libuv', version: '>= 1.40.0')
libsrtp2_dep = dependency('libsrtp2', version: '>= 2.4.0')
usrsctp_dep = dependency('usrsctp')
flatbuffers_dep = dependency('flatbuffers')
${abslVars}
absl_deps = [
${absl}
]

# flatbuffers schemas subdirectory.
subdir('fbs')

# Add current build directory so libwebrtc has access to FBS folder.
libwebrtc_include_directories = include_directories('include', 'fbs')
subdir('deps/libwebrtc')

dependencies = absl_deps + [
  openssl_dep,
  libuv_dep,
  libsrtp2_dep,
  usrsctp_dep,
  flatbuffers_dep,
  flatbuffers_generator_dep,
  libwebrtc_dep,
]

executable(
  'mediasoup-worker',
  build_by_default: true,
  install: true,
  install_tag: 'mediasoup-worker',
  dependencies: dependencies,
  sources: common_sources + ['src/main.cpp'],
  include_directories: include_directories('include'),
  cpp_args: cpp_args + ['-DMS_EXECUTABLE'],
)
`;
  return head + tail;
}

/** libwebrtc pulls abseil/openssl/flatbuffers/libuv from subproject variables too. */
function rewriteLibwebrtcMeson(text, file) {
  let out = text.replace(/abseil_cpp_proj = subproject\([\s\S]*?\n\)\n/, '');
  if (out === text) throw new Error(`mediasoup patch: no abseil subproject() block in ${file}`);
  out = replaceExact(out, "openssl_proj.get_variable('openssl_dep')", 'openssl_dep', file);
  out = replaceExact(
    out,
    "flatbuffers_proj.get_variable('flatbuffers_dep')",
    'flatbuffers_dep, flatbuffers_generator_dep',
    file,
  );
  out = replaceExact(out, "libuv_proj.get_variable('libuv_dep')", 'libuv_dep', file);
  out = replaceExact(
    out,
    "abseil_cpp_proj.get_variable('absl_strings_dep')",
    'absl_strings_dep',
    file,
    {
      all: true,
    },
  );
  // absl "types" = optional/variant/span; only optional is a compiled component worth linking.
  out = replaceExact(
    out,
    "abseil_cpp_proj.get_variable('absl_types_dep')",
    'absl_optional_dep',
    file,
    {
      all: true,
    },
  );
  if (/_proj\b/.test(out)) throw new Error(`mediasoup patch: subproject reference left in ${file}`);
  return out;
}

/**
 * Without this, ninja may compile a source before flatc has generated the headers it includes
 * (`FBS/message.h: No such file`): declaring the custom target as a source of the dependency makes
 * it an order-only prerequisite of every compile step that uses the dependency.
 */
function patchFbsMeson(text, file) {
  return replaceExact(
    text,
    "flatbuffers_generator_dep = declare_dependency(\n  include_directories: '.',\n)",
    "flatbuffers_generator_dep = declare_dependency(\n  include_directories: '.',\n  sources: flatbuffers_generator,\n)",
    file,
  );
}

/** Debian's libsrtp 2.5 installs its headers under <includedir>/srtp2. */
function patchSrtpInclude(text, file) {
  return replaceExact(text, '#include <srtp.h>', '#include <srtp2/srtp.h>', file);
}

/** libsrtp 2.5 names it srtp_remove_stream (mediasoup's fork renamed it). */
function patchSrtpSessionHpp(text, file) {
  return replaceExact(
    patchSrtpInclude(text, file),
    'srtp_stream_remove(this->session,',
    'srtp_remove_stream(this->session,',
    file,
  );
}

/** libsrtp 2.5 takes `int*` lengths in srtp_(un)protect(_rtcp); mediasoup's fork takes size_t*. */
function patchSrtpSessionCpp(text, file) {
  const re =
    /const srtp_err_status_t err = (srtp_(?:un)?protect(?:_rtcp)?)\(this->session, (\w+), len\);/g;
  const hits = text.match(re)?.length ?? 0;
  if (hits !== 4) {
    throw new Error(`mediasoup patch: expected 4 srtp_(un)protect calls in ${file}, found ${hits}`);
  }
  return text.replace(
    re,
    (_m, fn, buf) =>
      `int intLen = static_cast<int>(*len);\n\t\tconst srtp_err_status_t err = ${fn}(this->session, ${buf}, &intLen);\n\t\t*len = static_cast<size_t>(intLen);`,
  );
}

/**
 * The BIO callback must return `ret` for every BIO_CB_RETURN phase (ctrl included). Testing with
 * `==` answers 1 to control queries such as BIO_CTRL_GET_KTLS_SEND, so a kTLS-enabled OpenSSL
 * (Debian's) believes kTLS is active, allocates no write buffer and segfaults in the first DTLS
 * handshake.
 */
function patchDtlsTransport(text, file) {
  return replaceExact(
    text,
    '(operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1',
    '(operationType & BIO_CB_RETURN) ? static_cast<long>(ret) : 1',
    file,
  );
}

/** Applies every patch to a copy of `node_modules/mediasoup/worker` at `dir`. */
export async function patchWorkerSource(dir) {
  await patchFile(dir, 'meson.build', rewriteTopMeson);
  await patchFile(dir, 'deps/libwebrtc/meson.build', rewriteLibwebrtcMeson);
  await patchFile(dir, 'fbs/meson.build', patchFbsMeson);
  await patchFile(dir, 'include/DepLibSRTP.hpp', patchSrtpInclude);
  await patchFile(dir, 'include/RTC/SrtpSession.hpp', patchSrtpSessionHpp);
  await patchFile(dir, 'src/RTC/SrtpSession.cpp', patchSrtpSessionCpp);
  await patchFile(dir, 'src/RTC/DtlsTransport.cpp', patchDtlsTransport);
}
