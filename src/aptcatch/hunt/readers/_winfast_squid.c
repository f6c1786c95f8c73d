/*
 * _winfast_squid.c: Squid native access-log lines cut in C (module function squid_native of _winfast).
 *
 * Why by hand: DuckDB reads the native layout in SQL (aptcatch.hunt.readers.squid), and per 5 M lines
 * it spends ~2.1 thread-seconds on the line's shape (one RE2 match over the whole line), ~1.1 on
 * splitting it into fields and ~0.8 on the URL's host: 3.6x its bare CSV scan of the same file. No
 * library reads this layout (runs of blanks, per-field shapes) into Arrow columns, and every cheaper
 * SQL form measured (BENCHMARKS.md, IOC sweep) was no faster. So the lazy read's columns (the state of
 * each line, source.ip, destination.ip, url.full, url.domain) are computed here with the same rules
 * as the SQL, byte by byte, in one pass, without the GIL, on a range of a buffer (a range of the
 * file, read into it by squidfast.py), so that ranges run in parallel threads.
 *
 * Only plain lines are handled here: printable ASCII and tabs. A line with any other byte (non-ASCII
 * text, a control character) is returned as SLOW, and the Python side runs the SQL on it; a file
 * with a byte DuckDB cuts or rejects differently (a carriage return other than the \r\n line ends of
 * a file whose lines all end so, a bare \n in such a file, \x01 of the field delimiter) is refused
 * as a whole (status 1) and read by SQL as before. The state and columns are checked against
 * the SQL's on the same lines by tests/hunt/test_readers_squidfast.py.
 */
#include "_winfast.h"

enum { S_EVENT = 0, S_SKIP = 1, S_BAD = 2, S_SLOW = 3 };
enum { C_CLIENT, C_PEER, C_URL, C_DOMAIN, N_COLS };
#define NULL_SPAN UINT32_MAX
#define MAX_RANGE (1u << 30) /* a range of 1 GiB or more is refused (int32 Arrow offsets) */

/* byte classes: 0 field text, 1 blank (space, tab), 2 slow (another control byte, non-ASCII),
   3 refused (\r, \x01) */
static unsigned char CLS[256];

void wf_squid_init(void) {
    for (int c = 0; c < 256; c++) CLS[c] = (c < 0x20 || c >= 0x80) ? 2 : 0;
    CLS[' '] = CLS['\t'] = 1;
    CLS['\r'] = CLS[0x01] = 3;
}

typedef struct {
    uint32_t off, len; /* relative to the range's start; off == NULL_SPAN: no value */
} Span;

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_upper_(unsigned char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }

/* \d{9,11}(\.\d+)? */
static int shape_time(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n && is_digit(s[i])) i++;
    if (i < 9 || i > 11) return 0;
    if (i == n) return 1;
    if (s[i] != '.' || i + 1 == n) return 0;
    for (i++; i < n; i++)
        if (!is_digit(s[i])) return 0;
    return 1;
}

/* -?\d+ and \d+ */
static int shape_int(const unsigned char *s, size_t n, int sign) {
    size_t i = (sign && n && s[0] == '-') ? 1 : 0;
    if (i == n) return 0;
    for (; i < n; i++)
        if (!is_digit(s[i])) return 0;
    return 1;
}

/* [A-Z_]+/ followed by `tail` (3 digits, or at least one character when tail < 0): the '/' or -1 */
static long shape_slash(const unsigned char *s, size_t n, int tail) {
    size_t i = 0;
    while (i < n && is_upper_(s[i])) i++;
    if (i == 0 || i == n || s[i] != '/') return -1;
    size_t rest = n - i - 1;
    if (tail < 0) return rest ? (long)i : -1;
    if (rest != 3) return -1;
    for (size_t k = i + 1; k < n; k++)
        if (!is_digit(s[k])) return -1;
    return (long)i;
}

static const unsigned char *find_char(const unsigned char *s, size_t n, unsigned char c) {
    return (const unsigned char *)memchr(s, c, n);
}

static const unsigned char *find_last(const unsigned char *s, size_t n, unsigned char c) {
    for (size_t i = n; i > 0; i--)
        if (s[i - 1] == c) return s + i - 1;
    return NULL;
}

static const unsigned char *find_scheme(const unsigned char *s, size_t n) {
    for (const unsigned char *p = s; n >= 3 && (p = find_char(p, (size_t)(s + n - p), ':')) != NULL; p++) {
        if ((size_t)(s + n - p) >= 3 && p[1] == '/' && p[2] == '/') return p;
        if ((size_t)(s + n - p) < 3) break;
    }
    return NULL;
}

static inline Span span(const unsigned char *base, const unsigned char *p, size_t n) {
    return (Span){(uint32_t)(p - base), (uint32_t)n};
}

/* url.domain of a URL with a scheme: host_of(hp) of aptcatch.hunt.readers.duck */
static Span url_host(const unsigned char *base, const unsigned char *u, size_t n, const unsigned char *sch) {
    const unsigned char *h = sch + 3, *end = u + n;
    for (const unsigned char *p = h; p < end; p++)
        if (*p == '/' || *p == '?' || *p == '#') {
            end = p;
            break;
        }
    const unsigned char *at = find_last(h, (size_t)(end - h), '@');
    if (at != NULL) h = at + 1;
    size_t len = (size_t)(end - h);
    if (len && h[0] == '[') {
        const unsigned char *close = find_char(h, len, ']');
        return close ? span(base, h + 1, (size_t)(close - h - 1)) : (Span){NULL_SPAN, 0};
    }
    const unsigned char *colon = find_char(h, len, ':');
    if (colon != NULL) len = (size_t)(colon - h);
    return len ? span(base, h, len) : (Span){NULL_SPAN, 0};
}

/* a line with a byte the SQL must read: SLOW, or -1 when the rest of it has a refused byte */
static int slow_rest(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (CLS[s[i]] == 3) return -1;
    return S_SLOW;
}

/* bytes below 0x20 or from 0x80 in a word of 8: their high bits (exact per byte, no carries) */
static inline uint64_t odd_bytes(uint64_t w) {
    const uint64_t low7 = 0x7F7F7F7F7F7F7F7Full;
    return (~((w & low7) + 0x6060606060606060ull) | w) & HIGHS;
}

/* one line (no newline): its state, and its columns when an event. A line of printable ASCII only
   (checked 8 bytes at a time) is cut on spaces up to its ninth field; any other line byte by byte. */
static int cut_line(const unsigned char *base, const unsigned char *s, size_t n, Span *cols) {
    const unsigned char *tok[9];
    size_t tlen[9], nt = 0;
    int blank = 1;
    size_t i = 0;
    uint64_t odd = 0;
    for (; i + 8 <= n && !odd; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        odd = odd_bytes(w);
    }
    for (; i < n && !odd; i++) odd = s[i] < 0x20 || s[i] >= 0x80;
    if (!odd) {
        for (i = 0; i < n && nt < 9;) {
            if (s[i] == ' ') {
                i++;
                continue;
            }
            blank = 0;
            size_t start = i;
            const unsigned char *sp = memchr(s + i, ' ', n - i);
            i = sp ? (size_t)(sp - s) : n;
            tok[nt] = s + start;
            tlen[nt++] = i - start;
        }
    } else {
        i = 0;
    }
    while (odd && i < n) {
        unsigned char c = CLS[s[i]];
        if (c == 1) {
            i++;
            continue;
        }
        if (c >= 2) return slow_rest(s + i, n - i);
        blank = 0;
        size_t start = i;
        while (i < n && CLS[s[i]] == 0) i++;
        if (i < n && CLS[s[i]] >= 2) return slow_rest(s + i, n - i);
        if (nt < 9) {
            tok[nt] = s + start;
            tlen[nt] = i - start;
        }
        nt++;
    }
    if (blank) return S_SKIP;
    long slash;
    if (nt < 9 || CLS[s[0]] != 0 || !shape_time(tok[0], tlen[0]) || !shape_int(tok[1], tlen[1], 1) ||
        shape_slash(tok[3], tlen[3], 3) < 0 || !shape_int(tok[4], tlen[4], 0) ||
        (slash = shape_slash(tok[8], tlen[8], -1)) < 0)
        return S_BAD;
    cols[C_CLIENT] = span(base, tok[2], tlen[2]);
    const unsigned char *peer = tok[8] + slash + 1;
    size_t plen = tlen[8] - (size_t)slash - 1;
    cols[C_PEER] = (plen == 1 && peer[0] == '-') ? (Span){NULL_SPAN, 0} : span(base, peer, plen);
    const unsigned char *url = tok[6];
    size_t ulen = tlen[6];
    const unsigned char *sch = find_scheme(url, ulen);
    int tunnel = sch == NULL && tlen[5] == 7 && memcmp(tok[5], "CONNECT", 7) == 0;
    cols[C_URL] = tunnel ? (Span){NULL_SPAN, 0} : span(base, url, ulen);
    if (tunnel) {
        const unsigned char *colon = find_last(url, ulen, ':');
        cols[C_DOMAIN] = span(base, url, colon ? (size_t)(colon - url) : ulen);
    } else {
        cols[C_DOMAIN] = sch ? url_host(base, url, ulen, sch) : (Span){NULL_SPAN, 0};
    }
    return S_EVENT;
}

typedef struct {
    char *validity, *offsets, *data;
    size_t nulls, bytes;
} Column;

typedef struct {
    const unsigned char *base;
    size_t size;
    size_t max_line; /* DuckDB's max_line_size: it rejects a line of this many bytes or more, so such a
                        line sends the file to SQL */
    int status; /* 0 done, 1 refused (SQL reads the file), 2 out of memory */
    int crlf;   /* the file's lines end with \r\n (any other \r, or a bare \n, refuses it) */
    size_t lines;
    unsigned char *state;
    int64_t *slow; /* (line, start, end) per slow line, offsets relative to the range */
    size_t nslow, slow_cap;
    Column cols[N_COLS];
} Cut;

static int push_slow(Cut *C, size_t line, size_t a, size_t b) {
    if (C->nslow == C->slow_cap) {
        size_t cap = C->slow_cap ? C->slow_cap * 2 : 64;
        int64_t *p = PyMem_RawRealloc(C->slow, cap * 3 * sizeof(int64_t));
        if (p == NULL) return -1;
        C->slow = p;
        C->slow_cap = cap;
    }
    int64_t *t = C->slow + 3 * C->nslow++;
    t[0] = (int64_t)line, t[1] = (int64_t)a, t[2] = (int64_t)b;
    return 0;
}

/* the Arrow buffers of a column of n rows whose texts add up to at most `size` bytes (no GIL: raw
   allocator only; the data buffer is sized for the worst case and shrunk at the end, its untouched
   pages never mapped in) */
static int open_column(Column *c, size_t n, size_t size) {
    c->validity = PyMem_RawCalloc(n / 8 + 1, 1);
    c->offsets = PyMem_RawMalloc((n + 1) * 4);
    c->data = PyMem_RawMalloc(size ? size : 1);
    if (c->validity == NULL || c->offsets == NULL || c->data == NULL) return -1;
    ((int32_t *)c->offsets)[0] = 0;
    return 0;
}

static inline void put(Column *c, const unsigned char *base, Span sp, size_t row, int lower) {
    if (sp.off == NULL_SPAN) {
        c->nulls++;
    } else {
        unsigned char *dst = (unsigned char *)c->data + c->bytes;
        memcpy(dst, base + sp.off, sp.len);
        if (lower)
            for (uint32_t k = 0; k < sp.len; k++)
                if (dst[k] >= 'A' && dst[k] <= 'Z') dst[k] = (unsigned char)(dst[k] + 32);
        c->bytes += sp.len;
        c->validity[row >> 3] |= (char)(1u << (row & 7));
    }
    ((int32_t *)c->offsets)[row + 1] = (int32_t)c->bytes;
}

static void close_column(Column *c) {
    if (c->nulls == 0) {
        PyMem_RawFree(c->validity);
        c->validity = NULL;
    }
    char *q = PyMem_RawRealloc(c->data, c->bytes ? c->bytes : 1);
    if (q != NULL) c->data = q;
}

static void run_cut(Cut *C) {
    const unsigned char *s = C->base, *end = s + C->size;
    size_t n = 0;
    for (const unsigned char *p = s; p < end; n++) {
        const unsigned char *nl = find_char(p, (size_t)(end - p), '\n');
        p = nl ? nl + 1 : end;
    }
    C->lines = n;
    C->state = PyMem_RawMalloc(n ? n : 1);
    if (C->state == NULL) {
        C->status = 2;
        return;
    }
    for (int k = 0; k < N_COLS; k++)
        if (open_column(&C->cols[k], n, C->size) < 0) {
            C->status = 2;
            return;
        }
    size_t line = 0;
    for (const unsigned char *p = s; p < end; line++) {
        const unsigned char *nl = find_char(p, (size_t)(end - p), '\n');
        const unsigned char *stop = nl ? nl : end;
        if (C->crlf && nl) { /* every line of a CRLF file ends with \r\n, as DuckDB then requires */
            if (stop == p || stop[-1] != '\r') {
                C->status = 1;
                return;
            }
            stop--;
        }
        Span cols[N_COLS];
        for (int k = 0; k < N_COLS; k++) cols[k] = (Span){NULL_SPAN, 0};
        int st = (size_t)(stop - p) + (size_t)C->crlf >= C->max_line ? -1 : cut_line(s, p, (size_t)(stop - p), cols);
        if (st < 0) {
            C->status = 1;
            return;
        }
        if (st == S_SLOW && push_slow(C, line, (size_t)(p - s), (size_t)(stop - s)) < 0) {
            C->status = 2;
            return;
        }
        C->state[line] = (unsigned char)st;
        for (int k = 0; k < N_COLS; k++) put(&C->cols[k], s, cols[k], line, k == C_DOMAIN);
        p = nl ? nl + 1 : end;
    }
    for (int k = 0; k < N_COLS; k++) close_column(&C->cols[k]);
}

static void free_cut(Cut *C) {
    PyMem_RawFree(C->state);
    PyMem_RawFree(C->slow);
    for (int k = 0; k < N_COLS; k++) {
        PyMem_RawFree(C->cols[k].validity);
        PyMem_RawFree(C->cols[k].offsets);
        PyMem_RawFree(C->cols[k].data);
    }
}

/* hands a block to Python (the pointer is taken, even on failure) */
static PyObject *take_memory(char **p, size_t len) {
    char *q = *p;
    *p = NULL;
    if (q == NULL) Py_RETURN_NONE;
    return wf_memory_new(q, len);
}

PyObject *wf_squid_native(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, stop, max_line;
    int crlf = 0;
    if (!PyArg_ParseTuple(args, "y*nnn|p", &view, &start, &stop, &max_line, &crlf)) return NULL;
    if (start < 0 || stop < start || stop > view.len || (size_t)(stop - start) >= MAX_RANGE || max_line < 1) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "squid_native: the range is outside the buffer or 1 GiB or more, or max_line < 1");
        return NULL;
    }
    Cut C;
    memset(&C, 0, sizeof C);
    C.base = (const unsigned char *)view.buf + start;
    C.size = (size_t)(stop - start);
    C.max_line = (size_t)max_line;
    C.crlf = crlf;
    Py_BEGIN_ALLOW_THREADS
    run_cut(&C);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (C.status != 0) {
        free_cut(&C);
        if (C.status == 2) return PyErr_NoMemory();
        return Py_BuildValue("(in)", 1, (Py_ssize_t)0);
    }
    PyObject *cols = PyList_New(N_COLS);
    if (cols == NULL) {
        free_cut(&C);
        return NULL;
    }
    for (int k = 0; k < N_COLS; k++) {
        Column *c = &C.cols[k];
        size_t nulls = c->nulls, bytes = c->bytes;
        PyObject *validity = take_memory(&c->validity, (C.lines + 7) / 8);
        PyObject *offsets = take_memory(&c->offsets, (C.lines + 1) * 4);
        PyObject *data = take_memory(&c->data, bytes);
        PyObject *spec = (validity && offsets && data)
                             ? Py_BuildValue("(nnOOO)", (Py_ssize_t)C.lines, (Py_ssize_t)nulls, validity, offsets, data)
                             : NULL;
        Py_XDECREF(validity);
        Py_XDECREF(offsets);
        Py_XDECREF(data);
        if (spec == NULL) {
            Py_DECREF(cols);
            free_cut(&C);
            return NULL;
        }
        PyList_SET_ITEM(cols, k, spec);
    }
    size_t nslow = C.nslow, lines = C.lines;
    PyObject *state = take_memory((char **)&C.state, lines);
    PyObject *slow = take_memory((char **)&C.slow, nslow * 3 * sizeof(int64_t));
    free_cut(&C);
    if (state == NULL || slow == NULL) {
        Py_XDECREF(state);
        Py_XDECREF(slow);
        Py_DECREF(cols);
        return NULL;
    }
    return Py_BuildValue("(inNNN)", 0, (Py_ssize_t)lines, state, cols, slow);
}
