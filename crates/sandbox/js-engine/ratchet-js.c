/*
 * ratchet-js: the JavaScript task runner that runs inside the ratchet sandbox.
 *
 * This is our own harness around the QuickJS-ng engine (whose sources come from the crates.io
 * package rquickjs-sys at build time; see build.sh). It is compiled for wasm32-wasi and run by
 * the sandbox exactly like a WASM task, so JavaScript gets the same permissions and limits.
 *
 * Contract (task-abi.md, "JavaScript tasks"):
 *   argv[1]  path of the task's main.js as the sandbox mounts it (default /task/main.js)
 *   argv[2]  optional JS heap limit in bytes
 *   argv[3]  optional runtime behaviour: "ratchet-compat" (fetch throws HttpError on a non-2xx
 *            status, as Ratchet's engine does) or "standard" (the default)
 *   stdin    the input JSON
 *   stdout   the output JSON (JSON.stringify of the task's return value)
 *   stderr   console output and, on failure, the error message
 *   exit     0 on success, 1 when the task throws or rejects, 2 on a harness error, 3 when the
 *            JavaScript heap limit (argv[2]) was reached ("out of memory")
 *
 * Nothing of the host is reachable from JavaScript except console and fetch: there are no std
 * or os modules, no file access, no module loader.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quickjs.h"

/* ---- host interface (the sandbox's `ratchet` import module) ---------------------------- */

/* Performs an HTTP request described by a JSON object {method, url, headers, body}; the host
 * checks it against the bundle's permissions. Returns the response length (>= 0) to collect
 * with ratchet.fetch_result, or a negative value when the host could not produce a response. */
__attribute__((import_module("ratchet"), import_name("fetch")))
extern int64_t ratchet_fetch(const uint8_t *req, uint32_t req_len);

/* Copies the pending fetch response (JSON {status, status_text, headers, body} or {error})
 * into buf; returns the number of bytes copied. */
__attribute__((import_module("ratchet"), import_name("fetch_result")))
extern int32_t ratchet_fetch_result(uint8_t *buf, uint32_t buf_len);

/* ---- helpers ------------------------------------------------------------------------------ */

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) { free(buf); return NULL; }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Exit status when the JavaScript heap limit was reached. */
#define EXIT_OUT_OF_MEMORY 3

/* Prints the pending exception (message and stack) to stderr; returns `code`, or
 * EXIT_OUT_OF_MEMORY when the exception is the engine's "out of memory". */
static int report_exception(JSContext *ctx, const char *what, int code) {
    JSValue exc = JS_GetException(ctx);
    const char *msg = NULL;
    int oom = 0;
    if (JS_IsError(exc)) {
        JSValue m = JS_GetPropertyStr(ctx, exc, "message");
        JSValue name = JS_GetPropertyStr(ctx, exc, "name");
        const char *n = JS_ToCString(ctx, name);
        msg = JS_ToCString(ctx, m);
        /* The engine's own allocation failure is an InternalError (a task's `new Error("out of
         * memory")` is not). */
        oom = msg && n && strcmp(n, "InternalError") == 0 && strcmp(msg, "out of memory") == 0;
        /* The stack first and the message last: the sandbox quotes the end of stderr. */
        JSValue stack = JS_GetPropertyStr(ctx, exc, "stack");
        if (!JS_IsUndefined(stack)) {
            const char *s = JS_ToCString(ctx, stack);
            if (s && *s) fprintf(stderr, "%s", s);
            JS_FreeCString(ctx, s);
        }
        JS_FreeValue(ctx, stack);
        fprintf(stderr, "%s: %s: %s\n", what, n ? n : "Error", msg ? msg : "");
        JS_FreeCString(ctx, n);
        JS_FreeValue(ctx, name);
        JS_FreeValue(ctx, m);
    } else {
        /* A thrown non-Error: its `message` when it has a string one, else its JSON or text. */
        JSValue m = JS_IsObject(exc) ? JS_GetPropertyStr(ctx, exc, "message") : JS_UNDEFINED;
        if (JS_IsString(m)) {
            msg = JS_ToCString(ctx, m);
        } else if (JS_IsObject(exc)) {
            JSValue j = JS_JSONStringify(ctx, exc, JS_UNDEFINED, JS_UNDEFINED);
            msg = JS_IsString(j) ? JS_ToCString(ctx, j) : JS_ToCString(ctx, exc);
            JS_FreeValue(ctx, j);
        } else {
            msg = JS_ToCString(ctx, exc);
        }
        JS_FreeValue(ctx, m);
        fprintf(stderr, "%s: %s\n", what, msg ? msg : "(unprintable value)");
    }
    JS_FreeCString(ctx, msg);
    JS_FreeValue(ctx, exc);
    return oom ? EXIT_OUT_OF_MEMORY : code;
}

/* __ratchet_log(level, text): console output goes to the task's log (stderr). */
static JSValue js_log(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    const char *text = argc > 0 ? JS_ToCString(ctx, argv[0]) : NULL;
    if (text) {
        fputs(text, stderr);
        fputc('\n', stderr);
        JS_FreeCString(ctx, text);
    }
    return JS_UNDEFINED;
}

/* __ratchet_fetch(requestJson) -> responseJson */
static JSValue js_fetch(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    size_t len = 0;
    const char *req = argc > 0 ? JS_ToCStringLen(ctx, &len, argv[0]) : NULL;
    if (!req) return JS_ThrowTypeError(ctx, "fetch: bad request");
    int64_t n = ratchet_fetch((const uint8_t *)req, (uint32_t)len);
    JS_FreeCString(ctx, req);
    if (n < 0) return JS_ThrowInternalError(ctx, "fetch: the sandbox refused or failed the request");
    char *buf = malloc((size_t)n + 1);
    if (!buf) return JS_ThrowOutOfMemory(ctx);
    int32_t got = ratchet_fetch_result((uint8_t *)buf, (uint32_t)n);
    if (got < 0) { free(buf); return JS_ThrowInternalError(ctx, "fetch: no response"); }
    JSValue s = JS_NewStringLen(ctx, buf, (size_t)got);
    free(buf);
    return s;
}

/* The JavaScript side of the globals: console, fetch in Ratchet's shapes, and Ratchet's ten
 * error classes. Each class chains to Error.prototype, sets `name` (an own property, as
 * Ratchet's do) and `message` (a default one when none is given) and gets a `stack` from the
 * Error constructor; HttpError takes (status, message) and sets `status`. They are writable,
 * configurable global properties, so a task that declares its own class of the same name
 * (`class HttpError extends Error {}`) still loads. */
static const char PRELUDE[] =
    "(function (log, nativeFetch, ratchetCompat) {\n"
    "  const defineGlobal = (name, value) => Object.defineProperty(globalThis, name,\n"
    "    { value: value, writable: true, configurable: true, enumerable: false });\n"
    "  const errorClass = (name, defaultMessage) => {\n"
    "    const C = class extends Error {\n"
    "      constructor(message) {\n"
    "        super(message === undefined || message === null ? defaultMessage : message);\n"
    "        this.name = name;\n"
    "      }\n"
    "    };\n"
    "    Object.defineProperty(C, 'name', { value: name });\n"
    "    Object.defineProperty(C.prototype, 'name', { value: name, writable: true, configurable: true });\n"
    "    defineGlobal(name, C);\n"
    "    return C;\n"
    "  };\n"
    "  errorClass('AuthenticationError', 'Authentication failed');\n"
    "  errorClass('AuthorizationError', 'Not authorized');\n"
    "  errorClass('NetworkError', 'Network error');\n"
    "  errorClass('ValidationError', 'Validation failed');\n"
    "  errorClass('ConfigurationError', 'Configuration error');\n"
    "  errorClass('RateLimitError', 'Rate limit exceeded');\n"
    "  errorClass('ServiceUnavailableError', 'Service unavailable');\n"
    "  errorClass('TimeoutError', 'Operation timed out');\n"
    "  errorClass('DataError', 'Data error');\n"
    "  const HttpError = class extends Error {\n"
    "    constructor(status, message) {\n"
    "      super(message === undefined || message === null ? 'HTTP ' + status : message);\n"
    "      this.name = 'HttpError';\n"
    "      this.status = status;\n"
    "    }\n"
    "  };\n"
    "  Object.defineProperty(HttpError, 'name', { value: 'HttpError' });\n"
    "  Object.defineProperty(HttpError.prototype, 'name', { value: 'HttpError', writable: true, configurable: true });\n"
    "  defineGlobal('HttpError', HttpError);\n"
    "  const fmt = (args) => args.map((a) => typeof a === 'string' ? a : (function () {\n"
    "    try { return JSON.stringify(a); } catch (e) { return String(a); } })()).join(' ');\n"
    "  globalThis.console = {\n"
    "    log: (...a) => log(fmt(a)), info: (...a) => log(fmt(a)), debug: (...a) => log(fmt(a)),\n"
    "    warn: (...a) => log(fmt(a)), error: (...a) => log(fmt(a)),\n"
    "  };\n"
    "  const hasHeader = (h, name) => Object.keys(h).some((k) => k.toLowerCase() === name);\n"
    "  globalThis.fetch = function (url, params, legacyBody) {\n"
    "    params = params || {};\n"
    "    const headers = Object.assign({}, params.headers || {});\n"
    "    let body = params.body !== undefined ? params.body : legacyBody;\n"
    "    if (body !== undefined && body !== null && typeof body !== 'string') {\n"
    "      body = JSON.stringify(body);\n"
    "      if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = 'application/json';\n"
    "    }\n"
    "    const request = { method: String(params.method || 'GET').toUpperCase(), url: String(url),\n"
    "      headers: headers, body: body === undefined ? null : body };\n"
    "    const r = JSON.parse(nativeFetch(JSON.stringify(request)));\n"
    "    if (r.error) throw new Error('fetch ' + request.url + ': ' + r.error);\n"
    "    const text = r.body === undefined || r.body === null ? '' : String(r.body);\n"
    "    const extra = r.body_base64 === undefined ? {} : { bodyBase64: r.body_base64 };\n"
    "    let parsed = text;\n"
    "    if (r.body_json !== undefined) parsed = r.body_json;\n"
    "    else { try { parsed = JSON.parse(text); } catch (e) { /* not JSON: keep the text */ } }\n"
    "    const ok = typeof r.ok === 'boolean' ? r.ok : r.status >= 200 && r.status < 300;\n"
    "    if (ratchetCompat && !(r.status >= 200 && r.status < 300))\n"
    "      throw new HttpError(r.status, 'HTTP ' + r.status + ': ' + (r.status_text || ''));\n"
    "    return Object.assign({ ok: ok, status: r.status,\n"
    "      statusText: r.status_text || '', headers: r.headers || {}, body: parsed,\n"
    "      json() { return JSON.parse(text); }, text() { return text; } }, extra);\n"
    "  };\n"
    "  globalThis.module = { exports: {} };\n"
    "  globalThis.exports = globalThis.module.exports;\n"
    "})";

/* Evaluates `(` source `\n)`: Ratchet's way of turning a main.js into a function. */
static JSValue eval_wrapped(JSContext *ctx, const char *src, size_t src_len, const char *path) {
    char *wrapped = malloc(src_len + 4);
    if (!wrapped) return JS_ThrowOutOfMemory(ctx);
    wrapped[0] = '(';
    memcpy(wrapped + 1, src, src_len);
    memcpy(wrapped + 1 + src_len, "\n)", 3);
    JSValue fn = JS_Eval(ctx, wrapped, src_len + 3, path, JS_EVAL_TYPE_GLOBAL);
    free(wrapped);
    return fn;
}

/* Finds the task function: a global `main`, `module.exports.main` / `module.exports` / the one
 * function of `module.exports` (`module.exports = { multiply }`, Ratchet's generated tasks), the
 * script's completion value, or the whole source wrapped in parentheses (Ratchet's rules). */
static JSValue find_task_function(JSContext *ctx, const char *src, size_t src_len, const char *path) {
    JSValue completion = JS_Eval(ctx, src, src_len, path, JS_EVAL_TYPE_GLOBAL);
    if (!JS_IsException(completion)) {
        static const char LOOKUP[] =
            "(typeof main === 'function') ? main :"
            " (typeof module.exports === 'function') ? module.exports :"
            " (module.exports && typeof module.exports.main === 'function') ? module.exports.main :"
            " (module.exports && typeof module.exports === 'object'"
            "   && Object.values(module.exports).filter((f) => typeof f === 'function').length === 1)"
            "   ? Object.values(module.exports).find((f) => typeof f === 'function') :"
            " undefined";
        JSValue named = JS_Eval(ctx, LOOKUP, sizeof(LOOKUP) - 1, "<lookup>", JS_EVAL_TYPE_GLOBAL);
        if (JS_IsFunction(ctx, named)) {
            JS_FreeValue(ctx, completion);
            return named;
        }
        JS_FreeValue(ctx, named);
        if (JS_IsFunction(ctx, completion)) return completion;
        JS_FreeValue(ctx, completion);
        /* A lone named declaration (`function sqrt(input) {...}`) has no completion value, but
         * Ratchet evaluates the source wrapped in parentheses, where it is a function
         * expression. Reaching here, the script's completion was not a function, so a source
         * that also evaluates as one expression to a function is a function (or class)
         * declaration, whose evaluation has no side effects: evaluating it again is safe. */
        JSValue fn = eval_wrapped(ctx, src, src_len, path);
        if (!JS_IsException(fn) && JS_IsFunction(ctx, fn)) return fn;
        if (JS_IsException(fn)) JS_FreeValue(ctx, JS_GetException(ctx));
        else JS_FreeValue(ctx, fn);
        /* The script ran (its top level must not run twice) and defined no function. */
        return JS_ThrowTypeError(ctx,
            "main.js does not define a task function: write `function main(input) {...}` or a function expression");
    }
    /* Only a syntax error can mean a bare anonymous `function (input) {...}`, which is not a
     * valid statement: then try it wrapped in parentheses. Any other error is the task's own
     * (its top level threw) and is reported as it is. */
    JSValue first = JS_GetException(ctx);
    JSValue name = JS_IsError(first) ? JS_GetPropertyStr(ctx, first, "name") : JS_UNDEFINED;
    const char *n = JS_IsString(name) ? JS_ToCString(ctx, name) : NULL;
    int syntax = n && strcmp(n, "SyntaxError") == 0;
    JS_FreeCString(ctx, n);
    JS_FreeValue(ctx, name);
    if (!syntax) return JS_Throw(ctx, first);
    JSValue fn = eval_wrapped(ctx, src, src_len, path);
    if (JS_IsException(fn) || !JS_IsFunction(ctx, fn)) {
        /* Not a function expression either: the original syntax error says what is wrong. */
        if (JS_IsException(fn)) JS_FreeValue(ctx, JS_GetException(ctx));
        else JS_FreeValue(ctx, fn);
        return JS_Throw(ctx, first);
    }
    JS_FreeValue(ctx, first);
    return fn;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/task/main.js";
    size_t heap_limit = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 0;

    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "ratchet-js: cannot open %s\n", path); return 2; }
    size_t src_len = 0;
    char *src = read_all(f, &src_len);
    fclose(f);
    size_t input_len = 0;
    char *input = read_all(stdin, &input_len);
    if (!src || !input) { fprintf(stderr, "ratchet-js: out of memory reading inputs\n"); return 2; }

    JSRuntime *rt = JS_NewRuntime();
    if (!rt) { fprintf(stderr, "ratchet-js: cannot create runtime\n"); return 2; }
    if (heap_limit) JS_SetMemoryLimit(rt, heap_limit);
    /* QuickJS-ng ignores a stack limit under WASI; deep recursion is bounded by the sandbox's
     * native stack and the C stack placed first in memory (build.sh), both ending in a trap. */
    JSContext *ctx = JS_NewContext(rt);
    if (!ctx) { fprintf(stderr, "ratchet-js: cannot create context\n"); return 2; }

    JSValue prelude = JS_Eval(ctx, PRELUDE, sizeof(PRELUDE) - 1, "<ratchet>", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(prelude)) return report_exception(ctx, "ratchet-js", 2);
    int ratchet_compat = argc > 3 && strcmp(argv[3], "ratchet-compat") == 0;
    JSValue args[3] = { JS_NewCFunction(ctx, js_log, "log", 1), JS_NewCFunction(ctx, js_fetch, "fetch", 1),
                        JS_NewBool(ctx, ratchet_compat) };
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue r = JS_Call(ctx, prelude, global, 3, args);
    if (JS_IsException(r)) return report_exception(ctx, "ratchet-js", 2);
    JS_FreeValue(ctx, r);
    JS_FreeValue(ctx, args[0]);
    JS_FreeValue(ctx, args[1]);
    JS_FreeValue(ctx, prelude);

    JSValue fn = find_task_function(ctx, src, src_len, path);
    if (JS_IsException(fn)) return report_exception(ctx, "task failed to load", 1);

    JSValue in = JS_ParseJSON(ctx, input, input_len, "<input>");
    if (JS_IsException(in)) return report_exception(ctx, "input is not JSON", 2);
    JSValue result = JS_Call(ctx, fn, global, 1, &in);
    JS_FreeValue(ctx, in);
    if (JS_IsException(result)) return report_exception(ctx, "task failed", 1);

    if (JS_IsPromise(result)) {
        for (;;) {
            JSPromiseStateEnum st = JS_PromiseState(ctx, result);
            if (st != JS_PROMISE_PENDING) break;
            JSContext *jctx;
            int ran = JS_ExecutePendingJob(rt, &jctx);
            if (ran < 0) return report_exception(jctx, "task failed", 1);
            if (ran == 0) {
                fprintf(stderr, "task failed: its promise never settled\n");
                return 1;
            }
        }
        JSValue settled = JS_PromiseResult(ctx, result);
        if (JS_PromiseState(ctx, result) == JS_PROMISE_REJECTED) {
            JS_Throw(ctx, settled);
            return report_exception(ctx, "task failed", 1);
        }
        JS_FreeValue(ctx, result);
        result = settled;
    }

    JSValue json = JS_JSONStringify(ctx, result, JS_UNDEFINED, JS_UNDEFINED);
    if (JS_IsException(json)) return report_exception(ctx, "task output is not JSON", 1);
    if (JS_IsUndefined(json)) {
        fputs("null\n", stdout);
    } else {
        size_t out_len = 0;
        const char *out = JS_ToCStringLen(ctx, &out_len, json);
        fwrite(out, 1, out_len, stdout);
        fputc('\n', stdout);
        JS_FreeCString(ctx, out);
    }
    fflush(stdout);
    return 0;
}
