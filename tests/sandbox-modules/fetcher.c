/* A test task that fetches: input {"url": "..."}; output the fetch response JSON as it came
 * from the host (or the host's error object, with exit status 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((import_module("ratchet"), import_name("fetch"))) long long ratchet_fetch(const char *req, int len);
__attribute__((import_module("ratchet"), import_name("response"))) int ratchet_response(char *buf, int len);

int main(void) {
  static char input[8192], req[9000];
  size_t n = fread(input, 1, sizeof input - 1, stdin);
  input[n] = 0;
  char *u = strstr(input, "\"url\":\"");
  if (!u) { fprintf(stderr, "input needs a \"url\"\n"); return 2; }
  u += 7;
  char *end = strchr(u, '"');
  if (!end) { fprintf(stderr, "bad url\n"); return 2; }
  *end = 0;
  snprintf(req, sizeof req, "{\"url\": \"%s\"}", u);
  int len = (int)ratchet_fetch(req, (int)strlen(req));
  if (len < 0) return 4;
  char *buf = malloc((size_t)len + 1);
  if (ratchet_response(buf, len) != len) return 4;
  buf[len] = 0;
  puts(buf);
  if (strstr(buf, "\"error\":")) { fprintf(stderr, "fetch refused: %s\n", buf); return 3; }
  return 0;
}
