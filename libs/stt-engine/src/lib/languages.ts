/**
 * Whisper's language codes in token order (whisper.cpp `g_lang`): the language token of code `i`
 * is `sot + 1 + i`. Multilingual models before large-v3 know the first 99, large-v3 all 100;
 * English-only (`*.en`) models transcribe English only.
 */
export const WHISPER_LANGUAGES: readonly string[] = (
  'en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur ' +
  'hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si ' +
  'km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ' +
  'ha ba jw su yue'
).split(' ');

/** Index of `code` in {@link WHISPER_LANGUAGES}, or -1. Case-insensitive. */
export function whisperLanguageId(code: string): number {
  return WHISPER_LANGUAGES.indexOf(code.toLowerCase());
}
