/*
 * parley-espeak-phonemes: text to IPA with libespeak-ng's espeak_TextToPhonemes(), the call
 * Piper's own phonemizer makes. Unlike `espeak-ng -q --ipa`, it does not synthesise (and throw
 * away) the audio of every clause, which is ~97 % of the CLI's time per sentence.
 *
 * Protocol (stdin/stdout, UTF-8): after start-up it prints one line
 *   PARLEY-ESPEAK-PHONEMES <protocol> <sample rate>
 * then answers every input line with exactly one output line: the IPA of all clauses espeak-ng
 * finds in it, separated by a space (an empty line for a line with nothing to say). Output is
 * flushed once everything already received is answered, so pipelined requests cost one write.
 *
 * Usage: parley-espeak-phonemes <voice> [<data path>]
 * Exit codes: 1 espeak-ng failed to initialise, 2 no such voice ("Failed to read voice"), 64 usage.
 *
 * Declares the few libespeak-ng functions it uses itself (API revision 12, stable since 1.49), so
 * it builds against the runtime library alone: cc -O2 espeak-phonemes.c -l:libespeak-ng.so.1
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#define PROTOCOL 1
#define AUDIO_OUTPUT_SYNCHRONOUS 2
#define ESPEAK_INITIALIZE_DONT_EXIT 0x8000
#define ESPEAK_CHARS_UTF8 1
#define ESPEAK_PHONEMES_IPA 0x02
#define EE_OK 0

typedef struct {
  const char *name;
  const char *languages;
  const char *identifier;
  unsigned char gender;
  unsigned char age;
  unsigned char variant;
  unsigned char xx1;
  int score;
  void *spare;
} espeak_VOICE;

int espeak_Initialize(int output, int buflength, const char *path, int options);
int espeak_SetVoiceByName(const char *name);
int espeak_SetVoiceByProperties(espeak_VOICE *voice_spec);
const char *espeak_TextToPhonemes(const void **textptr, int textmode, int phonememode);

/* Writes s with line breaks turned into spaces: one answer is always exactly one line. */
static void put_clean(const char *s) {
  for (; *s; s++) putchar(*s == '\n' || *s == '\r' ? ' ' : *s);
}

/* One answer line for one input line (NUL-terminated, without its line break). */
static void answer(char *line) {
  size_t len = strlen(line);
  if (len > 0 && line[len - 1] == '\r') line[len - 1] = 0;
  const void *text = line;
  int first = 1;
  while (text != NULL && *(const char *)text != 0) {
    const void *before = text;
    const char *ipa = espeak_TextToPhonemes(&text, ESPEAK_CHARS_UTF8, ESPEAK_PHONEMES_IPA);
    if (ipa != NULL && *ipa != 0) {
      if (!first) putchar(' ');
      first = 0;
      put_clean(ipa);
    }
    if (text == before) break; /* no progress: never loop forever */
  }
  putchar('\n');
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s <voice> [<data path>]\n", argv[0]);
    return 64;
  }
  const char *voice = argv[1];
  const char *path = argc == 3 ? argv[2] : NULL;
  int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, path, ESPEAK_INITIALIZE_DONT_EXIT);
  if (rate <= 0) {
    fprintf(stderr, "espeak-ng failed to initialise (data path %s)\n", path ? path : "default");
    return 1;
  }
  if (espeak_SetVoiceByName(voice) != EE_OK) {
    /* As the espeak-ng command does: a language name is accepted too. */
    espeak_VOICE spec;
    memset(&spec, 0, sizeof(spec));
    spec.languages = voice;
    if (espeak_SetVoiceByProperties(&spec) != EE_OK) {
      fprintf(stderr, "Failed to read voice '%s'\n", voice);
      return 2;
    }
  }
  printf("PARLEY-ESPEAK-PHONEMES %d %d\n", PROTOCOL, rate);
  fflush(stdout);

  /* Own line reader on read(2): everything already received is answered, then flushed once. */
  size_t cap = 4096, used = 0;
  char *buf = malloc(cap);
  if (buf == NULL) return 1;
  for (;;) {
    if (used == cap) {
      char *bigger = realloc(buf, cap * 2);
      if (bigger == NULL) return 1;
      buf = bigger;
      cap *= 2;
    }
    ssize_t n = read(STDIN_FILENO, buf + used, cap - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += (size_t)n;
    size_t start = 0;
    char *nl;
    while ((nl = memchr(buf + start, '\n', used - start)) != NULL) {
      *nl = 0;
      answer(buf + start);
      start = (size_t)(nl - buf) + 1;
    }
    if (start > 0) {
      memmove(buf, buf + start, used - start);
      used -= start;
      fflush(stdout);
    }
  }
  free(buf);
  fflush(stdout);
  return 0;
}
