/* A test task for the sandbox: well-behaved by default, hostile on request.
 *
 * argv[1] selects the behaviour; without it the task echoes its input:
 * reads the input JSON on stdin and prints {"input": <input>, "args": N}.
 * Every mode prints what happened on stdout so tests can check refusals. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((import_module("ratchet"), import_name("fetch"))) long long ratchet_fetch(const char *req, int len);
__attribute__((import_module("ratchet"), import_name("command"))) long long ratchet_command(const char *req, int len);
__attribute__((import_module("ratchet"), import_name("response"))) int ratchet_response(char *buf, int len);

static char input[1 << 16];
static char *volatile keep; /* keeps allocations alive so the compiler cannot drop them */

/* Calls a ratchet capability and prints its JSON response. */
static int call(long long (*f)(const char *, int), const char *req) {
  int n = (int)f(req, (int)strlen(req));
  if (n < 0) { printf("{\"abi_error\": %d}\n", n); return 1; }
  char *buf = malloc((size_t)n + 1);
  int got = ratchet_response(buf, n);
  if (got != n) { printf("{\"abi_error\": %d}\n", got); return 1; }
  buf[n] = 0;
  printf("%s\n", buf);
  return strstr(buf, "\"error\"") ? 3 : 0;
}

static int try_open(const char *path, const char *mode) {
  FILE *f = fopen(path, mode);
  if (!f) { printf("{\"open\": \"%s\", \"error\": \"%s\"}\n", path, strerror(errno)); return 2; }
  if (mode[0] == 'w') fputs("written by probe\n", f);
  else { char b[64]; size_t n = fread(b, 1, sizeof b - 1, f); b[n] = 0; printf("{\"read\": %zu}\n", n); }
  fclose(f);
  printf("{\"open\": \"%s\", \"ok\": true}\n", path);
  return 0;
}

static int depth(int n) { volatile char pad[256]; pad[0] = (char)n; return n == 0 ? pad[0] : depth(n + 1) + pad[0]; }

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "echo";
  if (!strcmp(mode, "echo")) {
    size_t n = fread(input, 1, sizeof input - 1, stdin);
    input[n] = 0;
    while (n > 0 && (input[n - 1] == '\n' || input[n - 1] == ' ')) input[--n] = 0;
    printf("{\"input\": %s, \"args\": %d}\n", n ? input : "null", argc);
    fprintf(stderr, "echo done\n");
    return 0;
  }
  if (!strcmp(mode, "fail")) { fprintf(stderr, "something went wrong\n"); return 7; }
  if (!strcmp(mode, "loop")) { volatile unsigned long i = 0; for (;;) i++; }
  if (!strcmp(mode, "membomb")) {
    for (size_t total = 0;; total += 1 << 20) {
      char *p = malloc(1 << 20);
      if (!p) { fprintf(stderr, "out of memory after %zu MiB\n", total >> 20); return 12; }
      memset(p, 1, 1 << 20);
      keep = p;
    }
  }
  if (!strcmp(mode, "recurse")) return depth(1);
  if (!strcmp(mode, "output")) { for (;;) fputs("spam spam spam spam spam spam spam spam spam spam spam\n", stdout); }
  if (!strcmp(mode, "read")) return try_open(argv[2], "r");
  if (!strcmp(mode, "write")) return try_open(argv[2], "w");
  if (!strcmp(mode, "ls")) {
    DIR *d = opendir(argv[2]);
    if (!d) { printf("{\"ls\": \"%s\", \"error\": \"%s\"}\n", argv[2], strerror(errno)); return 2; }
    struct dirent *e; int count = 0;
    while ((e = readdir(d))) { if (e->d_name[0] != '.') { printf("%s\n", e->d_name); count++; } }
    closedir(d);
    return 0;
  }
  if (!strcmp(mode, "disk")) {
    FILE *f = fopen(argv[2], "w");
    if (!f) { printf("{\"error\": \"%s\"}\n", strerror(errno)); return 2; }
    static char block[65536];
    for (;;) { if (fwrite(block, 1, sizeof block, f) != sizeof block) { printf("{\"error\": \"short write\"}\n"); return 2; } fflush(f); }
  }
  if (!strcmp(mode, "env")) {
    for (int i = 2; i < argc; i++) {
      const char *v = getenv(argv[i]);
      printf("{\"var\": \"%s\", \"set\": %s}\n", argv[i], v ? "true" : "false");
    }
    return 0;
  }
  if (!strcmp(mode, "pwrite")) { /* writes one byte at offset argv[3] of argv[2] (a sparse file) */
    int fd = open(argv[2], O_WRONLY | O_CREAT, 0644);
    if (fd < 0) { printf("{\"open\": false, \"errno\": %d}\n", errno); return 1; }
    ssize_t n = pwrite(fd, "x", 1, (off_t)strtoull(argv[3], 0, 10));
    printf("{\"written\": %ld, \"errno\": %d}\n", (long)n, n < 0 ? errno : 0);
    return 0;
  }
  if (!strcmp(mode, "sleep")) { sleep((unsigned)atoi(argv[2])); printf("{\"slept\": true}\n"); return 0; }
  if (!strcmp(mode, "fetch")) {
    char req[1024];
    snprintf(req, sizeof req, "{\"method\": \"GET\", \"url\": \"%s\"}", argv[2]);
    return call(ratchet_fetch, req);
  }
  if (!strcmp(mode, "command")) {
    char req[1024];
    snprintf(req, sizeof req, "{\"program\": \"%s\", \"args\": [\"%s\"]}", argv[2], argc > 3 ? argv[3] : "");
    return call(ratchet_command, req);
  }
  if (!strcmp(mode, "command2")) { /* argv[2] with the two arguments argv[3], argv[4] (no quotes in them) */
    char req[1024];
    snprintf(req, sizeof req, "{\"program\": \"%s\", \"args\": [\"%s\", \"%s\"]}", argv[2], argv[3], argv[4]);
    return call(ratchet_command, req);
  }
  if (!strcmp(mode, "command2-then-spin")) { /* command2, then a loop that never calls the host */
    char req[1024];
    snprintf(req, sizeof req, "{\"program\": \"%s\", \"args\": [\"%s\", \"%s\"]}", argv[2], argv[3], argv[4]);
    call(ratchet_command, req);
    volatile unsigned long x = 0;
    for (;;) x = x * 6364136223846793005UL + 1;
  }
  if (!strcmp(mode, "mkdirs")) { /* creates empty directories under argv[2] until refused */
    char p[256];
    for (int i = 0;; i++) {
      snprintf(p, sizeof p, "%s/d%d", argv[2], i);
      if (mkdir(p, 0755) != 0) { printf("{\"created\": %d, \"error\": \"%s\"}\n", i, strerror(errno)); return 2; }
    }
  }
  if (!strcmp(mode, "fds")) { /* opens argv[2] again and again, never closing */
    for (int i = 0;; i++) {
      if (open(argv[2], O_RDONLY) < 0) { printf("{\"opened\": %d, \"error\": \"%s\"}\n", i, strerror(errno)); return 2; }
    }
  }
  if (!strcmp(mode, "statloop")) { /* host calls only: cheap for the meter, not for the clock */
    struct stat st;
    for (;;) stat(argv[2], &st);
  }
  if (!strcmp(mode, "fetchheader")) { /* fetch argv[2] with header argv[3]: argv[4] */
    char req[1024];
    snprintf(req, sizeof req, "{\"url\": \"%s\", \"headers\": {\"%s\": \"%s\"}}", argv[2], argv[3], argv[4]);
    return call(ratchet_fetch, req);
  }
  if (!strcmp(mode, "denyloop")) { /* asks for an undeclared program with a 64 KiB name, 200 times */
    static char req[70000];
    int n = snprintf(req, sizeof req, "{\"program\": \"");
    memset(req + n, 'x', 65536);
    strcpy(req + n + 65536, "\", \"args\": []}");
    for (int i = 0; i < 200; i++) ratchet_command(req, (int)strlen(req));
    printf("{\"asked\": 200}\n");
    return 0;
  }
  fprintf(stderr, "unknown mode %s\n", mode);
  return 64;
}
