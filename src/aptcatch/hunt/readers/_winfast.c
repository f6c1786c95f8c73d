/*
 * _winfast: the Windows event batch of aptcatch.hunt.readers.winsegments, with its per-event work in C.
 *
 * Why this is written by hand: the pure-Python batch (winsegments.Batch) makes a Python object for
 * every JSON value of every event (orjson), then moves them into lists and hands them to pyarrow;
 * that is ~24 us per event on top of the Rust EVTX parse, six times the parse itself. No library
 * turns evtx_dump JSON into per-shape Arrow columns, and this machine's registries carry no Rust
 * crates to write one against the evtx crate, so the batch is written here in C against the CPython
 * API only:
 *
 *   - ingest: each event text is parsed by a small strict JSON parser straight from the str's UTF-8
 *     (a flat node tape, depth-limited, every read bounds-checked), its shape key and values are
 *     computed as winsegments.parse_record computes them, and each value's final text (what
 *     winsegments.text_value makes of it) is recorded as a span of the event text (kept as the
 *     event's original) or of an arena of unescaped/joined texts, with a kind byte (no value /
 *     string / other), in per-(file, group) row-major cell arrays;
 *   - anything the parser does not handle exactly (floats, lone surrogates, duplicate keys, odd
 *     shapes, Winlogbeat or flat events, bad JSON ...) goes, one text at a time, to a Python callback
 *     that runs the reference code (orjson + parse_record) and whose parsed values are converted here
 *     with the same rules: never a guess;
 *   - build: given the plans the Python side computed (which column of a group goes where, the
 *     sources of each normalised column), the Arrow string buffers (offsets, data, validity) of every
 *     field name, of the normalised columns and of the originals are written into bytes objects that
 *     pyarrow wraps without a copy.
 *
 * Limits: texts of 4 GiB or more, nesting deeper than MAX_DEPTH and every form the parser does not
 * accept go to the Python path; sizes are checked for overflow; allocation failures raise MemoryError.
 * The GIL is held throughout.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 32
#define X_FLAG 0x80000000u   /* a cell's text lies in the extra arena, not in its event's text */
#define MAX_LEN 0x3FFFFFFFu  /* a text or value of 1 GiB or more is not kept here */
#define RESERVE (32u << 20)  /* first capacity of the big arenas: mapped, so they grow without copies */

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

#define BAIL (-1) /* not handled here: the text goes to the Python path */
#define ERR (-2)  /* a Python exception is set */

enum { K_NONE = 0, K_STR = 1, K_OTHER = 2, K_OTHER_NULL = 3 };
enum { J_NULL, J_TRUE, J_FALSE, J_INT, J_STR, J_ARR, J_OBJ };

/* one value: its text, relative to its event's text or (X_FLAG) to its event's extra texts */
typedef struct {
    uint32_t off;
    uint32_t lk; /* length << 2 | kind */
} Cell;

#define CELL_KIND(c) ((c).lk & 3u)
#define CELL_LEN(c) ((c).lk >> 2)
#define MK_CELL(off, len, kind) ((Cell){(uint32_t)(off), (uint32_t)(len) << 2 | (uint32_t)(kind)})

typedef struct {
    uint8_t type, esc;
    uint32_t start, end; /* string: content between the quotes; number, literal, container: its text */
    uint32_t count;      /* object members / array elements */
    uint32_t next;       /* index of the node after this subtree */
} Node;

typedef struct {
    char *p;
    size_t len, cap;
} Buf;

/* ------------------------------------------------------------------ growable memory */

static int grow_from(void **p, size_t *cap, size_t need, size_t elsize, size_t first) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : first;
    while (c < need) {
        if (c > SIZE_MAX / 2) {
            c = need;
            break;
        }
        c *= 2;
    }
    if (c > SIZE_MAX / elsize) {
        PyErr_NoMemory();
        return -1;
    }
    void *q = PyMem_RawRealloc(*p, c * elsize);
    if (q == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *p = q;
    *cap = c;
    return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elsize) { return grow_from(p, cap, need, elsize, 16); }

/* capacity for `need` elements: the common case inline, growth out of line */
static inline int reserve(void **p, size_t *cap, size_t need, size_t elsize) {
    return need <= *cap ? 0 : grow(p, cap, need, elsize);
}

static inline int buf_put(Buf *b, const void *src, size_t n) {
    if (n > SIZE_MAX - b->len) {
        PyErr_NoMemory();
        return -1;
    }
    if (reserve((void **)&b->p, &b->cap, b->len + n, 1) < 0) return -1;
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static inline int buf_byte(Buf *b, char c) { return buf_put(b, &c, 1); }

static inline int buf_u32(Buf *b, uint32_t v) { return buf_put(b, &v, sizeof v); }

/* ------------------------------------------------------------------ JSON tape parser */

typedef struct {
    const unsigned char *s;
    size_t n, i;
    Node *nodes;
    size_t nn, cap;
} Parser;

static inline int64_t push_node(Parser *P, uint8_t type, size_t start) {
    if (reserve((void **)&P->nodes, &P->cap, P->nn + 1, sizeof(Node)) < 0) return ERR;
    Node *nd = &P->nodes[P->nn];
    nd->type = type;
    nd->esc = 0;
    nd->start = nd->end = (uint32_t)start;
    nd->count = 0;
    nd->next = 0;
    return (int64_t)P->nn++;
}

static inline void skip_ws(Parser *P) {
    while (P->i < P->n) {
        unsigned char c = P->s[P->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        P->i++;
    }
}

static inline int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static unsigned hex4(const unsigned char *s) {
    return (unsigned)(hexval(s[0]) << 12 | hexval(s[1]) << 8 | hexval(s[2]) << 4 | hexval(s[3]));
}

static int64_t parse_string(Parser *P) {
    const unsigned char *s = P->s;
    size_t n = P->n, i = P->i + 1;
    int64_t idx = push_node(P, J_STR, i);
    if (idx < 0) return idx;
    uint8_t esc = 0;
    for (;;) {
        /* eight bytes at a time while none is a quote, a backslash or a control character */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
            if (((q - ONES) & ~q & HIGHS) | ((b - ONES) & ~b & HIGHS) | ((w - ONES * 0x20) & ~w & HIGHS)) break;
            i += 8;
        }
        if (i >= n) return BAIL;
        unsigned char c = s[i];
        if (c == '"') break;
        if (c == '\\') {
            if (i + 1 >= n) return BAIL;
            unsigned char e = s[i + 1];
            esc = 1;
            if (e == 'u') {
                if (i + 5 >= n) return BAIL;
                for (int k = 2; k < 6; k++)
                    if (hexval(s[i + k]) < 0) return BAIL;
                unsigned v = hex4(s + i + 2);
                if (v >= 0xD800 && v <= 0xDFFF) return BAIL; /* surrogates: the Python path */
                i += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
                       e == 't') {
                i += 2;
            } else {
                return BAIL;
            }
        } else if (c < 0x20) {
            return BAIL;
        } else {
            i++;
        }
    }
    Node *nd = &P->nodes[idx];
    nd->end = (uint32_t)i;
    nd->esc = esc;
    nd->next = (uint32_t)P->nn;
    P->i = i + 1;
    return idx;
}

static int same_key(const Parser *P, int64_t a, int64_t b) {
    const Node *x = &P->nodes[a], *y = &P->nodes[b];
    uint32_t la = x->end - x->start;
    return la == y->end - y->start && memcmp(P->s + x->start, P->s + y->start, la) == 0;
}

/* whether key node k repeats a key of the object at idx parsed so far (its members end before k) */
static int repeats(const Parser *P, int64_t obj, int64_t k) {
    int64_t j = obj + 1;
    while (j < k) {
        if (same_key(P, j, k)) return 1;
        j = P->nodes[j + 1].next;
    }
    return 0;
}

static int64_t parse_value(Parser *P, int depth);

static int64_t parse_object(Parser *P, int depth) {
    if (depth >= MAX_DEPTH) return BAIL;
    int64_t idx = push_node(P, J_OBJ, P->i);
    if (idx < 0) return idx;
    P->i++;
    skip_ws(P);
    uint32_t count = 0;
    uint64_t bloom = 0;
    if (P->i < P->n && P->s[P->i] == '}') {
        P->i++;
    } else {
        for (;;) {
            skip_ws(P);
            if (P->i >= P->n || P->s[P->i] != '"') return BAIL;
            int64_t k = parse_string(P);
            if (k < 0) return k;
            const Node *kn = &P->nodes[k];
            if (kn->esc) return BAIL; /* escaped names: the Python path */
            uint32_t len = kn->end - kn->start;
            unsigned bit = (len ? (unsigned)(len * 7u + P->s[kn->start] + 3u * P->s[kn->end - 1]) : 0u) & 63u;
            if ((bloom >> bit & 1) && repeats(P, idx, k)) return BAIL; /* duplicate keys */
            bloom |= (uint64_t)1 << bit;
            skip_ws(P);
            if (P->i >= P->n || P->s[P->i] != ':') return BAIL;
            P->i++;
            int64_t v = parse_value(P, depth + 1);
            if (v < 0) return v;
            if (count == UINT32_MAX) return BAIL;
            count++;
            skip_ws(P);
            if (P->i >= P->n) return BAIL;
            if (P->s[P->i] == ',') {
                P->i++;
                continue;
            }
            if (P->s[P->i] == '}') {
                P->i++;
                break;
            }
            return BAIL;
        }
    }
    Node *nd = &P->nodes[idx];
    nd->count = count;
    nd->end = (uint32_t)P->i;
    nd->next = (uint32_t)P->nn;
    return idx;
}

static int64_t parse_array(Parser *P, int depth) {
    if (depth >= MAX_DEPTH) return BAIL;
    int64_t idx = push_node(P, J_ARR, P->i);
    if (idx < 0) return idx;
    P->i++;
    skip_ws(P);
    uint32_t count = 0;
    if (P->i < P->n && P->s[P->i] == ']') {
        P->i++;
    } else {
        for (;;) {
            int64_t v = parse_value(P, depth + 1);
            if (v < 0) return v;
            if (count == UINT32_MAX) return BAIL;
            count++;
            skip_ws(P);
            if (P->i >= P->n) return BAIL;
            if (P->s[P->i] == ',') {
                P->i++;
                continue;
            }
            if (P->s[P->i] == ']') {
                P->i++;
                break;
            }
            return BAIL;
        }
    }
    Node *nd = &P->nodes[idx];
    nd->count = count;
    nd->end = (uint32_t)P->i;
    nd->next = (uint32_t)P->nn;
    return idx;
}

static int64_t parse_literal(Parser *P, const char *word, size_t len, uint8_t type) {
    if (P->n - P->i < len || memcmp(P->s + P->i, word, len) != 0) return BAIL;
    int64_t idx = push_node(P, type, P->i);
    if (idx < 0) return idx;
    P->i += len;
    P->nodes[idx].end = (uint32_t)P->i;
    P->nodes[idx].next = (uint32_t)P->nn;
    return idx;
}

/* integers that orjson reads as int (-2**63 .. 2**64-1) in canonical form; anything else bails */
static int64_t parse_number(Parser *P) {
    const unsigned char *s = P->s;
    size_t n = P->n, i = P->i, start = i;
    int neg = 0;
    if (s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= n || s[i] < '0' || s[i] > '9') return BAIL;
    if (s[i] == '0') {
        i++;
        if (neg) return BAIL; /* -0 */
        if (i < n && s[i] >= '0' && s[i] <= '9') return BAIL;
    } else {
        uint64_t v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            unsigned d = (unsigned)(s[i] - '0');
            if (v > (UINT64_MAX - d) / 10) return BAIL;
            v = v * 10 + d;
            i++;
        }
        if (neg && v > ((uint64_t)1 << 63)) return BAIL;
    }
    if (i < n && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')) return BAIL; /* a float */
    int64_t idx = push_node(P, J_INT, start);
    if (idx < 0) return idx;
    P->nodes[idx].end = (uint32_t)i;
    P->nodes[idx].next = (uint32_t)P->nn;
    P->i = i;
    return idx;
}

static int64_t parse_value(Parser *P, int depth) {
    skip_ws(P);
    if (P->i >= P->n) return BAIL;
    switch (P->s[P->i]) {
    case '"':
        return parse_string(P);
    case '{':
        return parse_object(P, depth);
    case '[':
        return parse_array(P, depth);
    case 't':
        return parse_literal(P, "true", 4, J_TRUE);
    case 'f':
        return parse_literal(P, "false", 5, J_FALSE);
    case 'n':
        return parse_literal(P, "null", 4, J_NULL);
    default:
        return parse_number(P);
    }
}

/* the value node of member `key` of object `obj`, or -1 */
static int64_t obj_get(const Parser *P, int64_t obj, const char *key, uint32_t len) {
    const Node *o = &P->nodes[obj];
    int64_t j = obj + 1;
    for (uint32_t m = 0; m < o->count; m++) {
        const Node *k = &P->nodes[j];
        if (k->end - k->start == len && memcmp(P->s + k->start, key, len) == 0) return j + 1;
        j = P->nodes[j + 1].next;
    }
    return -1;
}

static inline int key_is(const Parser *P, int64_t k, const char *key, uint32_t len) {
    const Node *x = &P->nodes[k];
    return x->end - x->start == len && memcmp(P->s + x->start, key, len) == 0;
}

/* ------------------------------------------------------------------ the batch */

typedef struct {
    int32_t file;
    uint32_t n_sys, n_data;
    PyObject *key;
    int64_t head, tail; /* first and last event (linked through Event.next) */
    uint64_t count;
} Group;

typedef struct {
    uint64_t orig;  /* where its text starts in the originals arena */
    uint64_t extra; /* where its extra texts start */
    uint64_t cells; /* its first cell */
    int64_t row;    /* its row in its file */
    int64_t group;
    int64_t next; /* the next event of its group, -1 */
} Event;

typedef struct {
    PyObject *groups; /* dict: Python key -> group index */
    int64_t rows;
} File;

typedef struct {
    uint64_t hash;
    uint64_t off; /* in the signature arena */
    uint32_t len;
    int32_t id; /* -1: empty slot */
} SigSlot;

typedef struct {
    uint64_t key; /* (file << 32 | signature id) + 1; 0: empty */
    int64_t group;
} MapSlot;

typedef struct {
    PyObject_HEAD
    PyObject *cell_fn;
    Buf orig;  /* the event texts, UTF-8, in ingest order */
    Buf extra; /* texts that are not spans of an event text */
    Cell *cells;
    size_t ncells, capcells;
    Event *events;
    size_t nevents, capevents;
    File *files;
    size_t nfiles, capfiles;
    Group *groups;
    size_t ngroups, capgroups;
    /* signature -> id (batch-wide) and its Python key */
    Buf sigs;
    SigSlot *sigtab;
    size_t sigcap, nsig;
    PyObject **sigkeys;
    size_t capsigkeys;
    /* (file, signature id) -> group */
    MapSlot *map;
    size_t mapcap, nmap;
    /* scratch of one event */
    Node *nodes;
    size_t capnodes;
    Cell *pend;
    size_t npend, cappend;
    size_t ev_extra; /* where this event's extra texts start */
    Buf sig;
    uint32_t n_sys, n_data;
    int64_t sys, chan, eid, prov;
    int64_t *dnames; /* the data fields' name nodes */
    size_t capdnames;
    /* finish order of the groups */
    int64_t *order;
    int built;
    Py_ssize_t fast, fallbacks;
} BatchObject;

static inline const char *cell_ptr(const BatchObject *B, const Event *e, Cell c) {
    return (c.off & X_FLAG) ? B->extra.p + e->extra + (c.off & ~X_FLAG) : B->orig.p + e->orig + c.off;
}

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    memcpy(&w, p + i, n - i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    return h;
}

/* ------------------------------------------------------------------ values as text */

/* JSON string content [start, end) with escapes, unescaped into b (no surrogates: checked) */
static int unescape(Buf *b, const unsigned char *s, uint32_t start, uint32_t end) {
    uint32_t i = start;
    while (i < end) {
        uint32_t j = i;
        while (j < end && s[j] != '\\') j++;
        if (buf_put(b, s + i, j - i) < 0) return ERR;
        if (j >= end) break;
        unsigned char e = s[j + 1], out[3];
        size_t k = 1;
        i = j + 2;
        switch (e) {
        case 'b': out[0] = '\b'; break;
        case 'f': out[0] = '\f'; break;
        case 'n': out[0] = '\n'; break;
        case 'r': out[0] = '\r'; break;
        case 't': out[0] = '\t'; break;
        case 'u': {
            unsigned v = hex4(s + j + 2);
            i = j + 6;
            if (v < 0x80) {
                out[0] = (unsigned char)v;
            } else if (v < 0x800) {
                out[0] = (unsigned char)(0xC0 | v >> 6);
                out[1] = (unsigned char)(0x80 | (v & 0x3F));
                k = 2;
            } else {
                out[0] = (unsigned char)(0xE0 | v >> 12);
                out[1] = (unsigned char)(0x80 | (v >> 6 & 0x3F));
                out[2] = (unsigned char)(0x80 | (v & 0x3F));
                k = 3;
            }
            break;
        }
        default: out[0] = e; /* " \ / */
        }
        if (buf_put(b, out, k) < 0) return ERR;
    }
    return 0;
}

/* winsegments.cell of node v appended to the extra arena: 1 text, 0 None, BAIL, ERR */
static int cell_text(BatchObject *B, const Parser *P, int64_t v) {
    const Node *x = &P->nodes[v];
    switch (x->type) {
    case J_NULL:
        return 0;
    case J_STR:
        if (x->esc) return unescape(&B->extra, P->s, x->start, x->end) < 0 ? ERR : 1;
        /* fall through */
    case J_INT:
    case J_TRUE:
    case J_FALSE:
        return buf_put(&B->extra, P->s + x->start, x->end - x->start) < 0 ? ERR : 1;
    case J_OBJ: {
        int64_t t = obj_get(P, v, "#text", 5);
        if (t < 0) return BAIL; /* orjson.dumps of the object: the Python path */
        return cell_text(B, P, t);
    }
    case J_ARR: { /* the parts that are not None, joined with ',' */
        int64_t j = v + 1;
        uint32_t parts = 0;
        for (uint32_t m = 0; m < x->count; m++) {
            size_t mark = B->extra.len;
            if (parts && buf_byte(&B->extra, ',') < 0) return ERR;
            int r = cell_text(B, P, j);
            if (r < 0) return r;
            if (r == 0)
                B->extra.len = mark;
            else
                parts++;
            j = P->nodes[j].next;
        }
        return parts ? 1 : 0;
    }
    }
    return BAIL;
}

static inline int pend_cell(BatchObject *B, Cell c) {
    if (reserve((void **)&B->pend, &B->cappend, B->npend + 1, sizeof(Cell)) < 0) return ERR;
    B->pend[B->npend++] = c;
    return 0;
}

/* a pending cell over the extra texts from `mark` on (BAIL when too long for a cell) */
static inline int pend_extra(BatchObject *B, size_t mark, int kind) {
    size_t rel = mark - B->ev_extra, len = B->extra.len - mark;
    if (rel >= X_FLAG || len > MAX_LEN) return BAIL;
    return pend_cell(B, MK_CELL(X_FLAG | rel, len, kind));
}

/* text_value of node v as a pending cell */
static int add_cell(BatchObject *B, const Parser *P, int64_t v) {
    const Node *x = &P->nodes[v];
    switch (x->type) {
    case J_NULL:
        return pend_cell(B, MK_CELL(0, 0, K_NONE));
    case J_STR:
        if (!x->esc) return pend_cell(B, MK_CELL(x->start, x->end - x->start, K_STR));
        {
            size_t mark = B->extra.len;
            if (unescape(&B->extra, P->s, x->start, x->end) < 0) return ERR;
            return pend_extra(B, mark, K_STR);
        }
    case J_INT:
    case J_TRUE:
    case J_FALSE:
        return pend_cell(B, MK_CELL(x->start, x->end - x->start, K_OTHER));
    default: {
        size_t mark = B->extra.len;
        int r = cell_text(B, P, v);
        if (r < 0) return r;
        return pend_extra(B, mark, r ? K_OTHER : K_OTHER_NULL);
    }
    }
}

static int sig_name(Buf *b, char tag, const Parser *P, int64_t k) {
    const Node *x = &P->nodes[k];
    if (buf_byte(b, tag) < 0 || buf_u32(b, x->end - x->start) < 0) return ERR;
    return buf_put(b, P->s + x->start, x->end - x->start) < 0 ? ERR : 0;
}

/* a key value (Channel, EventID, Provider name): -1 (None) or a scalar node; containers bail */
static int sig_scalar(BatchObject *B, const Parser *P, int64_t v) {
    if (v < 0) return buf_byte(&B->sig, 'n') < 0 ? ERR : 0;
    const Node *x = &P->nodes[v];
    if (x->type == J_ARR || x->type == J_OBJ) return BAIL;
    return sig_name(&B->sig, (char)('0' + x->type), P, v);
}

static inline int is_xmlns(const Parser *P, int64_t k) {
    const Node *x = &P->nodes[k];
    return x->end - x->start >= 5 && memcmp(P->s + x->start, "xmlns", 5) == 0;
}

static inline int data_name_unused(const Parser *P, int64_t k) {
    /* data names plan_columns never places (winsegments.CONSTANTS, '#attributes', '@row') */
    return key_is(P, k, "#attributes", 11) || key_is(P, k, "Channel", 7) || key_is(P, k, "EventID", 7) ||
           key_is(P, k, "Provider_Name", 13) || key_is(P, k, "@row", 4);
}

/* one data field (name node k, value node v) */
static int add_data(BatchObject *B, const Parser *P, int64_t k, int64_t v) {
    if (reserve((void **)&B->dnames, &B->capdnames, (size_t)B->n_data + 1, sizeof(int64_t)) < 0) return ERR;
    if (sig_name(&B->sig, 'd', P, k) < 0) return ERR;
    size_t mark = B->extra.len;
    int r = add_cell(B, P, v);
    if (r == BAIL && data_name_unused(P, k)) {
        B->extra.len = mark;
        r = pend_cell(B, MK_CELL(0, 0, K_OTHER_NULL));
    }
    if (r < 0) return r;
    B->dnames[B->n_data++] = k;
    return 0;
}

/* winsegments.event_sections where no nested element is flattened: each section's fields (UserData's
   one inner element's), or the section itself when it is no object; repeated names bail */
static int sections(BatchObject *B, const Parser *P, int64_t ev) {
    const Node *nd = P->nodes;
    int r;
    int64_t j = ev + 1;
    for (uint32_t m = 0; m < nd[ev].count; m++) {
        int64_t body = j + 1;
        if (key_is(P, j, "System", 6) || key_is(P, j, "#attributes", 11) || nd[body].type == J_NULL) {
            j = nd[body].next;
            continue;
        }
        if (key_is(P, j, "UserData", 8) && nd[body].type == J_OBJ) {
            int64_t inner = -1, c = body + 1;
            uint32_t count = 0;
            for (uint32_t q = 0; q < nd[body].count; q++) {
                if (!key_is(P, c, "#attributes", 11)) {
                    inner = c + 1;
                    count++;
                }
                c = nd[c + 1].next;
            }
            if (count == 1) body = inner;
        }
        if (nd[body].type == J_OBJ) {
            int64_t c = body + 1;
            for (uint32_t q = 0; q < nd[body].count; q++) {
                if (!key_is(P, c, "#attributes", 11)) {
                    if (nd[c + 1].type == J_OBJ) return BAIL; /* flattened into composite names */
                    if ((r = add_data(B, P, c, c + 1)) < 0) return r;
                }
                c = nd[c + 1].next;
            }
        } else if ((r = add_data(B, P, j, body)) < 0) {
            return r;
        }
        j = nd[j + 1].next;
    }
    for (uint32_t a = 1; a < B->n_data; a++) /* a repeated name keeps its first place: the Python path */
        for (uint32_t b = 0; b < a; b++)
            if (same_key(P, B->dnames[a], B->dnames[b])) return BAIL;
    return 0;
}

/* parse_record on the tape: key signature and pending cells, or BAIL */
static int interpret(BatchObject *B, const Parser *P) {
    const Node *nd = P->nodes;
    B->npend = 0;
    B->sig.len = 0;
    B->n_sys = B->n_data = 0;
    if (nd[0].type != J_OBJ) return BAIL;
    int64_t ev = obj_get(P, 0, "Event", 5);
    if (ev < 0 || nd[ev].type != J_OBJ) return BAIL;
    int64_t sys = obj_get(P, ev, "System", 6);
    if (sys < 0 || nd[sys].type != J_OBJ) return BAIL;
    int64_t data = obj_get(P, ev, "EventData", 9);
    int direct = data >= 0 && nd[data].type == J_OBJ && nd[ev].count <= 3;
    /* the key's values */
    int64_t chan = obj_get(P, sys, "Channel", 7);
    int64_t eid = obj_get(P, sys, "EventID", 7);
    if (eid >= 0 && nd[eid].type == J_OBJ) eid = obj_get(P, eid, "#text", 5);
    int64_t prov = obj_get(P, sys, "Provider", 8);
    if (prov >= 0 && nd[prov].type == J_OBJ) {
        int64_t attrs = obj_get(P, prov, "#attributes", 11);
        prov = (attrs >= 0 && nd[attrs].type == J_OBJ) ? obj_get(P, attrs, "Name", 4) : -1;
    }
    int r;
    if ((r = sig_scalar(B, P, chan)) < 0 || (r = sig_scalar(B, P, eid)) < 0 || (r = sig_scalar(B, P, prov)) < 0)
        return r;
    /* System, flattened as parse_record flattens it */
    int64_t j = sys + 1;
    for (uint32_t m = 0; m < nd[sys].count; m++) {
        int64_t v = j + 1;
        if (sig_name(&B->sig, 'K', P, j) < 0) return ERR;
        if (nd[v].type == J_OBJ) {
            int64_t attrs = nd[v].count == 1 ? obj_get(P, v, "#attributes", 11) : -1;
            if (attrs >= 0 && nd[attrs].type == J_OBJ) {
                if (buf_byte(&B->sig, 'A') < 0) return ERR;
                int64_t a = attrs + 1;
                for (uint32_t q = 0; q < nd[attrs].count; q++) {
                    if (sig_name(&B->sig, 'a', P, a) < 0) return ERR;
                    if ((r = add_cell(B, P, a + 1)) < 0) return r;
                    B->n_sys++;
                    a = nd[a + 1].next;
                }
            } else { /* winsegments.flatten of {"#attributes": {...}, "#text": ...} */
                if (buf_byte(&B->sig, 'F') < 0) return ERR;
                int64_t c = v + 1;
                for (uint32_t q = 0; q < nd[v].count; q++) {
                    int64_t cv = c + 1;
                    if (key_is(P, c, "#attributes", 11)) {
                        if (nd[cv].type == J_OBJ) {
                            int64_t a = cv + 1;
                            for (uint32_t w = 0; w < nd[cv].count; w++) {
                                if (!is_xmlns(P, a)) {
                                    if (sig_name(&B->sig, 'a', P, a) < 0) return ERR;
                                    if ((r = add_cell(B, P, a + 1)) < 0) return r;
                                    B->n_sys++;
                                }
                                a = nd[a + 1].next;
                            }
                        }
                    } else if (key_is(P, c, "#text", 5)) {
                        if (buf_byte(&B->sig, 'T') < 0) return ERR;
                        if ((r = add_cell(B, P, cv)) < 0) return r;
                        B->n_sys++;
                    } else {
                        return BAIL; /* nested elements */
                    }
                    c = nd[cv].next;
                }
                if (buf_byte(&B->sig, 'f') < 0) return ERR;
            }
        } else {
            if (buf_byte(&B->sig, 'N') < 0) return ERR;
            if ((r = add_cell(B, P, v)) < 0) return r;
            B->n_sys++;
        }
        j = nd[v].next;
    }
    /* the data fields */
    if (buf_byte(&B->sig, 'D') < 0) return ERR;
    if (direct) {
        j = data + 1;
        for (uint32_t m = 0; m < nd[data].count; m++) {
            if ((r = add_data(B, P, j, j + 1)) < 0) return r;
            j = nd[j + 1].next;
        }
    } else if ((r = sections(B, P, ev)) < 0) {
        return r;
    }
    B->sys = sys;
    B->chan = chan;
    B->eid = eid;
    B->prov = prov;
    return 0;
}

/* ------------------------------------------------------------------ Python keys */

static PyObject *py_text(BatchObject *B, const Parser *P, int64_t v) {
    const Node *x = &P->nodes[v];
    if (!x->esc) return PyUnicode_DecodeUTF8((const char *)P->s + x->start, x->end - x->start, "strict");
    size_t mark = B->extra.len;
    if (unescape(&B->extra, P->s, x->start, x->end) < 0) return NULL;
    PyObject *out = PyUnicode_DecodeUTF8(B->extra.p + mark, (Py_ssize_t)(B->extra.len - mark), "strict");
    B->extra.len = mark;
    return out;
}

static PyObject *py_scalar(BatchObject *B, const Parser *P, int64_t v) {
    if (v < 0) Py_RETURN_NONE;
    const Node *x = &P->nodes[v];
    switch (x->type) {
    case J_NULL:
        Py_RETURN_NONE;
    case J_TRUE:
        Py_RETURN_TRUE;
    case J_FALSE:
        Py_RETURN_FALSE;
    case J_INT: {
        char digits[32];
        uint32_t len = x->end - x->start;
        if (len >= sizeof digits) {
            PyErr_SetString(PyExc_SystemError, "integer too long");
            return NULL;
        }
        memcpy(digits, P->s + x->start, len);
        digits[len] = 0;
        return PyLong_FromString(digits, NULL, 10);
    }
    case J_STR:
        return py_text(B, P, v);
    }
    PyErr_SetString(PyExc_SystemError, "no scalar");
    return NULL;
}

/* "<k>_<a>" from two name nodes */
static PyObject *join_names(const Parser *P, int64_t k, int64_t a) {
    const Node *x = &P->nodes[k], *y = &P->nodes[a];
    size_t lx = x->end - x->start, ly = y->end - y->start;
    char *tmp = PyMem_RawMalloc(lx + ly + 1);
    if (tmp == NULL) return PyErr_NoMemory();
    memcpy(tmp, P->s + x->start, lx);
    tmp[lx] = '_';
    memcpy(tmp + lx + 1, P->s + y->start, ly);
    PyObject *out = PyUnicode_DecodeUTF8(tmp, (Py_ssize_t)(lx + ly + 1), "strict");
    PyMem_RawFree(tmp);
    return out;
}

static int list_add(PyObject *list, PyObject *item) {
    if (item == NULL) return -1;
    int r = PyList_Append(list, item);
    Py_DECREF(item);
    return r;
}

/* (Channel, EventID, Provider name, data names, (System keys, System layout)) as parse_record makes it */
static PyObject *build_key(BatchObject *B, const Parser *P) {
    const Node *nd = P->nodes;
    PyObject *names = NULL, *keys = NULL, *sig = NULL, *entry = NULL, *out = NULL;
    PyObject *t_names = NULL, *t_keys = NULL, *t_sig = NULL, *shape = NULL;
    PyObject *chan = NULL, *eid = NULL, *prov = NULL;
    if (!(names = PyList_New(0)) || !(keys = PyList_New(0)) || !(sig = PyList_New(0))) goto done;
    for (uint32_t m = 0; m < B->n_data; m++)
        if (list_add(names, py_text(B, P, B->dnames[m])) < 0) goto done;
    int64_t j = B->sys + 1;
    for (uint32_t m = 0; m < nd[B->sys].count; m++) {
        int64_t v = j + 1;
        if (list_add(keys, py_text(B, P, j)) < 0) goto done;
        if (nd[v].type != J_OBJ) {
            Py_INCREF(Py_None);
            if (list_add(sig, Py_None) < 0) goto done;
        } else {
            int64_t attrs = nd[v].count == 1 ? obj_get(P, v, "#attributes", 11) : -1;
            if (!(entry = PyList_New(0))) goto done;
            if (attrs >= 0 && nd[attrs].type == J_OBJ) {
                int64_t a = attrs + 1;
                for (uint32_t q = 0; q < nd[attrs].count; q++) {
                    if (list_add(entry, py_text(B, P, a)) < 0) goto done;
                    a = nd[a + 1].next;
                }
            } else {
                if (list_add(entry, PyUnicode_FromString("#flat")) < 0) goto done;
                int64_t c = v + 1;
                for (uint32_t q = 0; q < nd[v].count; q++) {
                    int64_t cv = c + 1;
                    if (key_is(P, c, "#attributes", 11)) {
                        if (nd[cv].type == J_OBJ) {
                            int64_t a = cv + 1;
                            for (uint32_t w = 0; w < nd[cv].count; w++) {
                                if (!is_xmlns(P, a) && list_add(entry, join_names(P, j, a)) < 0) goto done;
                                a = nd[a + 1].next;
                            }
                        }
                    } else if (list_add(entry, py_text(B, P, j)) < 0) { /* #text: the element's name */
                        goto done;
                    }
                    c = nd[cv].next;
                }
            }
            PyObject *tup = PyList_AsTuple(entry);
            Py_CLEAR(entry);
            if (list_add(sig, tup) < 0) goto done;
        }
        j = nd[v].next;
    }
    if (!(t_names = PyList_AsTuple(names)) || !(t_keys = PyList_AsTuple(keys)) || !(t_sig = PyList_AsTuple(sig)))
        goto done;
    if (!(shape = PyTuple_Pack(2, t_keys, t_sig))) goto done;
    if (!(chan = py_scalar(B, P, B->chan)) || !(eid = py_scalar(B, P, B->eid)) || !(prov = py_scalar(B, P, B->prov)))
        goto done;
    out = PyTuple_Pack(5, chan, eid, prov, t_names, shape);
done:
    Py_XDECREF(names);
    Py_XDECREF(keys);
    Py_XDECREF(sig);
    Py_XDECREF(entry);
    Py_XDECREF(t_names);
    Py_XDECREF(t_keys);
    Py_XDECREF(t_sig);
    Py_XDECREF(shape);
    Py_XDECREF(chan);
    Py_XDECREF(eid);
    Py_XDECREF(prov);
    return out;
}

/* ------------------------------------------------------------------ groups and events */

/* the group of `key` in `file` (created when new, in first-seen order as a dict keeps it) */
static int64_t file_group(BatchObject *B, int32_t file, PyObject *key, uint32_t n_sys, uint32_t n_data) {
    File *f = &B->files[file];
    PyObject *found = PyDict_GetItemWithError(f->groups, key);
    if (found != NULL) {
        int64_t gid = PyLong_AsLongLong(found);
        if (gid < 0 && PyErr_Occurred()) return ERR;
        Group *g = &B->groups[gid];
        if (g->n_sys != n_sys || g->n_data != n_data) {
            PyErr_SetString(PyExc_SystemError, "events of one group key with different field counts");
            return ERR;
        }
        return gid;
    }
    if (PyErr_Occurred()) return ERR;
    if (reserve((void **)&B->groups, &B->capgroups, B->ngroups + 1, sizeof(Group)) < 0) return ERR;
    int64_t gid = (int64_t)B->ngroups;
    PyObject *id = PyLong_FromLongLong(gid);
    if (id == NULL) return ERR;
    int r = PyDict_SetItem(f->groups, key, id);
    Py_DECREF(id);
    if (r < 0) return ERR;
    Group *g = &B->groups[B->ngroups++];
    g->file = file;
    g->n_sys = n_sys;
    g->n_data = n_data;
    Py_INCREF(key);
    g->key = key;
    g->head = g->tail = -1;
    g->count = 0;
    return gid;
}

static int sig_grow(BatchObject *B) {
    size_t cap = B->sigcap ? B->sigcap * 2 : 1024;
    SigSlot *tab = PyMem_RawMalloc(cap * sizeof(SigSlot));
    if (tab == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < cap; i++) tab[i].id = -1;
    for (size_t i = 0; i < B->sigcap; i++) {
        if (B->sigtab[i].id < 0) continue;
        size_t p = B->sigtab[i].hash & (cap - 1);
        while (tab[p].id >= 0) p = (p + 1) & (cap - 1);
        tab[p] = B->sigtab[i];
    }
    PyMem_RawFree(B->sigtab);
    B->sigtab = tab;
    B->sigcap = cap;
    return 0;
}

static inline size_t map_slot(uint64_t key, size_t cap) { return (key * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1); }

static int map_grow(BatchObject *B) {
    size_t cap = B->mapcap ? B->mapcap * 2 : 1024;
    MapSlot *tab = PyMem_RawCalloc(cap, sizeof(MapSlot));
    if (tab == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < B->mapcap; i++) {
        if (!B->map[i].key) continue;
        size_t p = map_slot(B->map[i].key, cap);
        while (tab[p].key) p = (p + 1) & (cap - 1);
        tab[p] = B->map[i];
    }
    PyMem_RawFree(B->map);
    B->map = tab;
    B->mapcap = cap;
    return 0;
}

/* the group of the interpreted event in `file`, through the signature caches */
static int64_t group_of_event(BatchObject *B, int32_t file, const Parser *P) {
    if ((B->nsig + 1) * 2 > B->sigcap && sig_grow(B) < 0) return ERR;
    uint64_t h = hash_bytes(B->sig.p, B->sig.len);
    size_t p = h & (B->sigcap - 1);
    int32_t id = -1;
    while (B->sigtab[p].id >= 0) {
        SigSlot *s = &B->sigtab[p];
        if (s->hash == h && s->len == B->sig.len && memcmp(B->sigs.p + s->off, B->sig.p, s->len) == 0) {
            id = s->id;
            break;
        }
        p = (p + 1) & (B->sigcap - 1);
    }
    if (id < 0) {
        if (B->nsig >= INT32_MAX || B->sig.len > UINT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "too many event shapes in one batch");
            return ERR;
        }
        if (reserve((void **)&B->sigkeys, &B->capsigkeys, B->nsig + 1, sizeof(PyObject *)) < 0) return ERR;
        PyObject *key = build_key(B, P);
        if (key == NULL) return ERR;
        size_t off = B->sigs.len;
        if (buf_put(&B->sigs, B->sig.p, B->sig.len) < 0) {
            Py_DECREF(key);
            return ERR;
        }
        id = (int32_t)B->nsig++;
        B->sigkeys[id] = key;
        B->sigtab[p] = (SigSlot){h, off, (uint32_t)B->sig.len, id};
    }
    if ((B->nmap + 1) * 2 > B->mapcap && map_grow(B) < 0) return ERR;
    uint64_t mk = ((uint64_t)(uint32_t)file << 32 | (uint32_t)id) + 1;
    size_t q = map_slot(mk, B->mapcap);
    while (B->map[q].key) {
        if (B->map[q].key == mk) return B->map[q].group;
        q = (q + 1) & (B->mapcap - 1);
    }
    int64_t gid = file_group(B, file, B->sigkeys[id], B->n_sys, B->n_data);
    if (gid < 0) return gid;
    B->map[q] = (MapSlot){mk, gid};
    B->nmap++;
    return gid;
}

/* the event (its text copied as its original, its pending cells) appended to group gid */
static int add_event(BatchObject *B, int32_t file, int64_t gid, const char *text, size_t n) {
    Group *g = &B->groups[gid];
    if ((size_t)g->n_sys + g->n_data != B->npend) {
        PyErr_SetString(PyExc_SystemError, "cell count differs from the group's");
        return ERR;
    }
    if (grow_from((void **)&B->orig.p, &B->orig.cap, B->orig.len + n, 1, RESERVE) < 0 ||
        grow_from((void **)&B->cells, &B->capcells, B->ncells + B->npend, sizeof(Cell), RESERVE / sizeof(Cell)) < 0 ||
        reserve((void **)&B->events, &B->capevents, B->nevents + 1, sizeof(Event)) < 0)
        return ERR;
    int64_t id = (int64_t)B->nevents++;
    Event *e = &B->events[id];
    e->orig = B->orig.len;
    e->extra = B->ev_extra;
    e->cells = B->ncells;
    e->row = B->files[file].rows++;
    e->group = gid;
    e->next = -1;
    memcpy(B->orig.p + B->orig.len, text, n);
    B->orig.len += n;
    if (B->npend) memcpy(B->cells + B->ncells, B->pend, B->npend * sizeof(Cell));
    B->ncells += B->npend;
    if (g->tail >= 0)
        B->events[g->tail].next = id;
    else
        g->head = id;
    g->tail = id;
    g->count++;
    return 0;
}

/* one text on the C path: 0 done, BAIL, ERR */
static int fast_event(BatchObject *B, int32_t file, const char *text, size_t n) {
    if (n > MAX_LEN) return BAIL;
    Parser P = {(const unsigned char *)text, n, 0, B->nodes, 0, B->capnodes};
    int64_t root = parse_value(&P, 0);
    B->nodes = P.nodes;
    B->capnodes = P.cap;
    if (root < 0) return (int)root;
    skip_ws(&P);
    if (P.i != n) return BAIL;
    B->ev_extra = B->extra.len;
    int r = interpret(B, &P);
    if (r < 0) {
        B->extra.len = B->ev_extra;
        return r;
    }
    int64_t gid = group_of_event(B, file, &P);
    if (gid < 0) return ERR;
    return add_event(B, file, gid, text, n);
}

/* ------------------------------------------------------------------ the Python path's values */

static int py_cell(BatchObject *B, PyObject *v) {
    PyObject *owned = NULL;
    const char *u = NULL;
    Py_ssize_t len = 0;
    int kind = K_OTHER;
    if (v == Py_None) return pend_cell(B, MK_CELL(0, 0, K_NONE));
    if (PyUnicode_CheckExact(v)) {
        kind = K_STR;
        u = PyUnicode_AsUTF8AndSize(v, &len);
    } else if (PyBool_Check(v)) {
        u = v == Py_True ? "true" : "false";
        len = v == Py_True ? 4 : 5;
    } else {
        owned = PyLong_CheckExact(v) ? PyObject_Str(v) : PyObject_CallOneArg(B->cell_fn, v);
        if (owned == NULL) return ERR;
        if (owned == Py_None) {
            Py_DECREF(owned);
            return pend_cell(B, MK_CELL(0, 0, K_OTHER_NULL));
        }
        if (!PyUnicode_Check(owned)) {
            Py_DECREF(owned);
            PyErr_SetString(PyExc_TypeError, "cell() gave no str");
            return ERR;
        }
        u = PyUnicode_AsUTF8AndSize(owned, &len);
    }
    if (u == NULL) {
        Py_XDECREF(owned);
        return ERR;
    }
    size_t mark = B->extra.len;
    int r = buf_put(&B->extra, u, (size_t)len);
    Py_XDECREF(owned);
    if (r < 0) return ERR;
    r = pend_extra(B, mark, kind);
    if (r == BAIL) {
        PyErr_SetString(PyExc_ValueError, "an event whose values take 1 GiB or more");
        return ERR;
    }
    return r;
}

/* parsed = (key, sysvals, values) from the Python path */
static int slow_event(BatchObject *B, int32_t file, PyObject *text, PyObject *parsed) {
    if (!PyTuple_CheckExact(parsed) || PyTuple_GET_SIZE(parsed) != 3) {
        PyErr_SetString(PyExc_TypeError, "fallback must return (key, sysvals, values) or None");
        return ERR;
    }
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "event texts must be str");
        return ERR;
    }
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(text, &n);
    if (u == NULL) return ERR;
    PyObject *key = PyTuple_GET_ITEM(parsed, 0);
    PyObject *sv = PySequence_Fast(PyTuple_GET_ITEM(parsed, 1), "sysvals must be a sequence");
    if (sv == NULL) return ERR;
    PyObject *dv = PySequence_Fast(PyTuple_GET_ITEM(parsed, 2), "values must be a sequence");
    if (dv == NULL) {
        Py_DECREF(sv);
        return ERR;
    }
    int r = 0;
    Py_ssize_t ns = PySequence_Fast_GET_SIZE(sv), ndv = PySequence_Fast_GET_SIZE(dv);
    B->npend = 0;
    B->ev_extra = B->extra.len;
    for (Py_ssize_t i = 0; i < ns && r == 0; i++) r = py_cell(B, PySequence_Fast_GET_ITEM(sv, i));
    for (Py_ssize_t i = 0; i < ndv && r == 0; i++) r = py_cell(B, PySequence_Fast_GET_ITEM(dv, i));
    Py_DECREF(sv);
    Py_DECREF(dv);
    if (r < 0) return ERR;
    if ((size_t)ns > UINT32_MAX || (size_t)ndv > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many fields");
        return ERR;
    }
    int64_t gid = file_group(B, file, key, (uint32_t)ns, (uint32_t)ndv);
    if (gid < 0) return ERR;
    return add_event(B, file, gid, u, (size_t)n);
}

/* ------------------------------------------------------------------ memory handed to Arrow */

/* a block of memory (malloc) whose ownership passed to Python: a read-only buffer for pyarrow */
typedef struct {
    PyObject_HEAD
    char *p;
    Py_ssize_t len;
} MemoryObject;

static void Memory_dealloc(MemoryObject *m) {
    PyMem_RawFree(m->p);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

static int Memory_getbuffer(MemoryObject *m, Py_buffer *view, int flags) {
    static char empty[1];
    return PyBuffer_FillInfo(view, (PyObject *)m, m->p ? m->p : empty, m->len, 1, flags);
}

static PyBufferProcs Memory_as_buffer = {(getbufferproc)Memory_getbuffer, NULL};

static PyTypeObject MemoryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "aptcatch.hunt.readers._winfast.Memory",
    .tp_basicsize = sizeof(MemoryObject),
    .tp_dealloc = (destructor)Memory_dealloc,
    .tp_as_buffer = &Memory_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Memory written by the batch, read by pyarrow (buffer protocol, read-only).",
};

/* takes p (malloc'd, freed on failure) */
static PyObject *memory_new(char *p, size_t len) {
    MemoryObject *m = PyObject_New(MemoryObject, &MemoryType);
    if (m == NULL) {
        PyMem_RawFree(p);
        return NULL;
    }
    m->p = p;
    m->len = (Py_ssize_t)len;
    return (PyObject *)m;
}

/* ------------------------------------------------------------------ the type: ingest */

static void Batch_dealloc(BatchObject *B) {
    for (size_t i = 0; i < B->ngroups; i++) Py_XDECREF(B->groups[i].key);
    for (size_t i = 0; i < B->nfiles; i++) Py_XDECREF(B->files[i].groups);
    for (size_t i = 0; i < B->nsig; i++) Py_XDECREF(B->sigkeys[i]);
    Py_XDECREF(B->cell_fn);
    PyMem_RawFree(B->orig.p);
    PyMem_RawFree(B->extra.p);
    PyMem_RawFree(B->cells);
    PyMem_RawFree(B->events);
    PyMem_RawFree(B->files);
    PyMem_RawFree(B->groups);
    PyMem_RawFree(B->sigs.p);
    PyMem_RawFree(B->sigtab);
    PyMem_RawFree(B->sigkeys);
    PyMem_RawFree(B->map);
    PyMem_RawFree(B->nodes);
    PyMem_RawFree(B->pend);
    PyMem_RawFree(B->sig.p);
    PyMem_RawFree(B->dnames);
    PyMem_RawFree(B->order);
    Py_TYPE(B)->tp_free((PyObject *)B);
}

static int Batch_init(BatchObject *B, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"cell", NULL};
    PyObject *cell_fn;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &cell_fn)) return -1;
    if (B->cell_fn != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Batch already initialised");
        return -1;
    }
    Py_INCREF(cell_fn);
    B->cell_fn = cell_fn;
    return 0;
}

static int check_open(BatchObject *B) {
    if (B->cell_fn == NULL || B->order != NULL) {
        PyErr_SetString(PyExc_RuntimeError, B->cell_fn ? "batch already finished" : "batch not initialised");
        return -1;
    }
    return 0;
}

static PyObject *Batch_open_file(BatchObject *B, PyObject *Py_UNUSED(ignored)) {
    if (check_open(B) < 0) return NULL;
    if (B->nfiles >= INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many files");
        return NULL;
    }
    if (reserve((void **)&B->files, &B->capfiles, B->nfiles + 1, sizeof(File)) < 0) return NULL;
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
    B->files[B->nfiles] = (File){d, 0};
    return PyLong_FromSize_t(B->nfiles++);
}

static PyObject *Batch_ingest(BatchObject *B, PyObject *args) {
    int file;
    PyObject *iterable, *fallback;
    if (!PyArg_ParseTuple(args, "iOO:ingest", &file, &iterable, &fallback)) return NULL;
    if (check_open(B) < 0) return NULL;
    if (file < 0 || (size_t)file >= B->nfiles) {
        PyErr_SetString(PyExc_IndexError, "no such file");
        return NULL;
    }
    PyObject *it = PyObject_GetIter(iterable);
    if (it == NULL) return NULL;
    Py_ssize_t n = 0, added = 0;
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        n++;
        int r = BAIL;
        if (PyUnicode_CheckExact(item)) {
            Py_ssize_t len;
            const char *u = PyUnicode_AsUTF8AndSize(item, &len);
            if (u != NULL) {
                r = fast_event(B, file, u, (size_t)len);
            } else if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
                PyErr_Clear(); /* lone surrogates: the Python path says what orjson says */
            } else {
                r = ERR;
            }
        }
        if (r == 0) {
            B->fast++;
            added++;
        } else if (r == BAIL) {
            B->fallbacks++;
            PyObject *res = PyObject_CallFunction(fallback, "nO", n, item);
            if (res == NULL) {
                r = ERR;
            } else {
                r = 0;
                if (res != Py_None) {
                    r = slow_event(B, file, item, res);
                    if (r == 0) added++;
                }
                Py_DECREF(res);
            }
        }
        Py_DECREF(item);
        if (r == ERR) {
            Py_DECREF(it);
            return NULL;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) return NULL;
    return PyLong_FromSsize_t(added);
}

/* ------------------------------------------------------------------ the type: finish */

static int ensure_order(BatchObject *B) {
    if (B->order != NULL) return 0;
    size_t n = B->ngroups ? B->ngroups : 1;
    B->order = PyMem_RawMalloc(n * sizeof(int64_t));
    size_t *start = PyMem_RawCalloc(B->nfiles + 1, sizeof(size_t));
    if (B->order == NULL || start == NULL) {
        PyMem_RawFree(start);
        PyMem_RawFree(B->order);
        B->order = NULL;
        PyErr_NoMemory();
        return -1;
    }
    for (size_t g = 0; g < B->ngroups; g++) start[B->groups[g].file + 1]++;
    for (size_t f = 0; f < B->nfiles; f++) start[f + 1] += start[f];
    for (size_t g = 0; g < B->ngroups; g++) B->order[start[B->groups[g].file]++] = (int64_t)g;
    PyMem_RawFree(start);
    return 0;
}

/* [(file, key, rows, dropped System positions)] in the order winsegments.Batch._finish visits them;
   no event can be added afterwards */
static PyObject *Batch_groups(BatchObject *B, PyObject *Py_UNUSED(ignored)) {
    if (B->cell_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "batch not initialised");
        return NULL;
    }
    if (ensure_order(B) < 0) return NULL;
    PyObject *out = PyList_New((Py_ssize_t)B->ngroups);
    char *seen = NULL;
    size_t capseen = 0;
    if (out == NULL) return NULL;
    for (size_t i = 0; i < B->ngroups; i++) {
        Group *g = &B->groups[B->order[i]];
        if (reserve((void **)&seen, &capseen, (size_t)g->n_sys + 1, 1) < 0) goto fail;
        memset(seen, 0, g->n_sys);
        for (int64_t e = g->head; e >= 0; e = B->events[e].next) {
            const Cell *row = B->cells + B->events[e].cells;
            for (uint32_t c = 0; c < g->n_sys; c++)
                if (CELL_KIND(row[c]) != K_NONE) seen[c] = 1;
        }
        PyObject *dropped = PyList_New(0);
        if (dropped == NULL) goto fail;
        for (uint32_t c = 0; c < g->n_sys; c++) {
            if (!seen[c] && list_add(dropped, PyLong_FromUnsignedLong(c)) < 0) {
                Py_DECREF(dropped);
                goto fail;
            }
        }
        PyObject *t = PyList_AsTuple(dropped);
        Py_DECREF(dropped);
        if (t == NULL) goto fail;
        PyObject *item = Py_BuildValue("(iOKN)", g->file, g->key, (unsigned long long)g->count, t);
        if (item == NULL) goto fail;
        PyList_SET_ITEM(out, (Py_ssize_t)i, item);
    }
    PyMem_RawFree(seen);
    return out;
fail:
    PyMem_RawFree(seen);
    Py_DECREF(out);
    return NULL;
}

static PyObject *Batch_file_rows(BatchObject *B, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyList_New((Py_ssize_t)B->nfiles);
    if (out == NULL) return NULL;
    for (size_t f = 0; f < B->nfiles; f++) {
        PyObject *v = PyLong_FromLongLong(B->files[f].rows);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)f, v);
    }
    return out;
}

typedef struct {
    uint32_t *table;
    uint32_t ntable;
    int64_t *src;      /* >= 0: column position; < 0: -1 - constant index */
    size_t *src_start; /* per normalised column, into src (ncolumns + 1 entries) */
} Plan;

typedef struct {
    Plan *plans;
    size_t nplans, nnorm;
    Buf ctext; /* the constants' texts */
    size_t *coff;
    uint32_t *clen;
    size_t nconsts, capconsts, capclen;
} Plans;

static void plans_free(Plans *ps) {
    for (size_t i = 0; i < ps->nplans; i++) {
        PyMem_RawFree(ps->plans[i].table);
        PyMem_RawFree(ps->plans[i].src);
        PyMem_RawFree(ps->plans[i].src_start);
    }
    PyMem_RawFree(ps->plans);
    PyMem_RawFree(ps->ctext.p);
    PyMem_RawFree(ps->coff);
    PyMem_RawFree(ps->clen);
}

static int to_u32_list(PyObject *seq, uint32_t **out, uint32_t *n) {
    PyObject *f = PySequence_Fast(seq, "expected a sequence of ints");
    if (f == NULL) return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(f);
    if ((size_t)len >= UINT32_MAX) {
        Py_DECREF(f);
        PyErr_SetString(PyExc_OverflowError, "too many items");
        return -1;
    }
    *out = PyMem_RawMalloc(((size_t)len + 1) * sizeof(uint32_t));
    if (*out == NULL) {
        Py_DECREF(f);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(f, i));
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(f);
            return -1;
        }
        if (v < 0 || (unsigned long)v >= UINT32_MAX) {
            Py_DECREF(f);
            PyErr_SetString(PyExc_ValueError, "position out of range");
            return -1;
        }
        (*out)[i] = (uint32_t)v;
    }
    *n = (uint32_t)len;
    Py_DECREF(f);
    return 0;
}

/* one source: an int position or a str constant */
static int load_source(Plans *ps, PyObject *s, int64_t *out) {
    if (PyUnicode_Check(s)) {
        Py_ssize_t len;
        const char *u = PyUnicode_AsUTF8AndSize(s, &len);
        if (u == NULL) return -1;
        if ((size_t)len > MAX_LEN) {
            PyErr_SetString(PyExc_ValueError, "constant too long");
            return -1;
        }
        if (reserve((void **)&ps->coff, &ps->capconsts, ps->nconsts + 1, sizeof(size_t)) < 0 ||
            reserve((void **)&ps->clen, &ps->capclen, ps->nconsts + 1, sizeof(uint32_t)) < 0)
            return -1;
        ps->coff[ps->nconsts] = ps->ctext.len;
        ps->clen[ps->nconsts] = (uint32_t)len;
        if (buf_put(&ps->ctext, u, (size_t)len) < 0) return -1;
        *out = -1 - (int64_t)ps->nconsts++;
        return 0;
    }
    long pos = PyLong_AsLong(s);
    if (pos == -1 && PyErr_Occurred()) return -1;
    if (pos < 0 || (unsigned long)pos >= UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "position out of range");
        return -1;
    }
    *out = pos;
    return 0;
}

/* plans: [(table positions, [sources per normalised column: int position or str constant])] */
static int load_plans(PyObject *plans, Plans *ps) {
    PyObject *f = PySequence_Fast(plans, "plans must be a sequence");
    if (f == NULL) return -1;
    Py_ssize_t np = PySequence_Fast_GET_SIZE(f);
    ps->plans = PyMem_RawCalloc((size_t)np + 1, sizeof(Plan));
    if (ps->plans == NULL) {
        Py_DECREF(f);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < np; i++) {
        Plan *p = &ps->plans[i];
        ps->nplans = (size_t)i + 1;
        PyObject *table, *norm, *nf = NULL;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(f, i), "OO:plan", &table, &norm)) goto fail;
        if (to_u32_list(table, &p->table, &p->ntable) < 0) goto fail;
        if ((nf = PySequence_Fast(norm, "norm must be a sequence")) == NULL) goto fail;
        size_t nn = (size_t)PySequence_Fast_GET_SIZE(nf), nsrc = 0, capsrc = 0;
        if (i == 0) ps->nnorm = nn;
        if (nn != ps->nnorm) {
            PyErr_SetString(PyExc_ValueError, "plans with different normalised columns");
            goto fail_nf;
        }
        if ((p->src_start = PyMem_RawMalloc((nn + 1) * sizeof(size_t))) == NULL) {
            PyErr_NoMemory();
            goto fail_nf;
        }
        for (size_t c = 0; c < nn; c++) {
            p->src_start[c] = nsrc;
            PyObject *sf = PySequence_Fast(PySequence_Fast_GET_ITEM(nf, c), "sources must be a sequence");
            if (sf == NULL) goto fail_nf;
            for (Py_ssize_t k = 0; k < PySequence_Fast_GET_SIZE(sf); k++) {
                int64_t v;
                if (load_source(ps, PySequence_Fast_GET_ITEM(sf, k), &v) < 0 ||
                    reserve((void **)&p->src, &capsrc, nsrc + 1, sizeof(int64_t)) < 0) {
                    Py_DECREF(sf);
                    goto fail_nf;
                }
                p->src[nsrc++] = v;
            }
            Py_DECREF(sf);
        }
        p->src_start[nn] = nsrc;
        Py_DECREF(nf);
        continue;
    fail_nf:
        Py_DECREF(nf);
        goto fail;
    }
    Py_DECREF(f);
    return 0;
fail:
    Py_DECREF(f);
    return -1;
}

/* a value's text for an Arrow string array: valid or null */
typedef struct {
    const char *p;
    uint32_t len;
    int valid;
} Ref;

static inline Ref cell_ref(const BatchObject *B, const Event *e, Cell c) {
    unsigned kind = CELL_KIND(c);
    if (kind == K_NONE || kind == K_OTHER_NULL) return (Ref){NULL, 0, 0};
    return (Ref){cell_ptr(B, e, c), CELL_LEN(c), 1};
}

/* An Arrow string array of n texts (two passes: sizes, then copies; ASCII lower-cased when `lower`):
   (length, null count, validity or None, offsets, data) */
static PyObject *string_array(const Ref *refs, size_t n, int lower) {
    size_t data = 0, nulls = 0;
    for (size_t i = 0; i < n; i++) {
        if (refs[i].valid)
            data += refs[i].len;
        else
            nulls++;
    }
    if (data > INT32_MAX || n > (size_t)PY_SSIZE_T_MAX / 4 - 1) {
        PyErr_SetString(PyExc_OverflowError, "a string column of 2 GiB or more in one batch");
        return NULL;
    }
    PyObject *validity = NULL, *offsets = NULL, *bytes = NULL;
    if (nulls) {
        validity = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 7) / 8));
        if (validity == NULL) return NULL;
        memset(PyBytes_AS_STRING(validity), 0, (n + 7) / 8);
    } else {
        Py_INCREF(Py_None);
        validity = Py_None;
    }
    offsets = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 1) * 4));
    bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)data);
    if (offsets == NULL || bytes == NULL) {
        Py_XDECREF(offsets);
        Py_XDECREF(bytes);
        Py_DECREF(validity);
        return NULL;
    }
    int32_t *off = (int32_t *)PyBytes_AS_STRING(offsets);
    char *dst = PyBytes_AS_STRING(bytes);
    unsigned char *bits = nulls ? (unsigned char *)PyBytes_AS_STRING(validity) : NULL;
    size_t pos = 0;
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        Ref r = refs[i];
        if (r.valid) {
            memcpy(dst + pos, r.p, r.len);
            if (lower)
                for (uint32_t k = 0; k < r.len; k++)
                    if (dst[pos + k] >= 'A' && dst[pos + k] <= 'Z') dst[pos + k] = (char)(dst[pos + k] + 32);
            pos += r.len;
            if (bits) bits[i >> 3] |= (unsigned char)(1u << (i & 7));
        }
        off[i + 1] = (int32_t)pos;
    }
    return Py_BuildValue("(nnNNN)", (Py_ssize_t)n, (Py_ssize_t)nulls, validity, offsets, bytes);
}

static inline int is_empty_text(Ref r) {
    return r.len == 0 || (r.len == 1 && r.p[0] == '-') || (r.len == 7 && memcmp(r.p, "(empty)", 7) == 0);
}

/* normalised column c of an event: winsegments._first over its plan's sources (one source is taken as
   it is; of several, the first that is a value and, when a string, not '', '-' or '(empty)') */
static Ref first_source(const BatchObject *B, const Plans *ps, const Plan *p, const Event *e, size_t c) {
    size_t s0 = p->src_start[c], s1 = p->src_start[c + 1];
    const Cell *row = B->cells + e->cells;
    for (size_t k = s0; k < s1; k++) {
        int64_t src = p->src[k];
        Ref r;
        unsigned kind;
        if (src >= 0) {
            kind = CELL_KIND(row[src]);
            r = cell_ref(B, e, row[src]);
        } else {
            kind = K_STR;
            r = (Ref){ps->ctext.p + ps->coff[-1 - src], ps->clen[-1 - src], 1};
        }
        if (s1 - s0 == 1) return r;
        if (kind == K_NONE || (kind == K_STR && is_empty_text(r))) continue;
        return r;
    }
    return (Ref){NULL, 0, 0};
}

/* c equals a (a lower-case ASCII letter or another ASCII character) but for the case of a letter */
static inline int same_ci(char c, char a) { return c == a || (a >= 'a' && a <= 'z' && c == a - 32); }

static inline int re2_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

/*
 * The values of the `nalgos` names in a Sysmon hash list, as winsegments.normal_table extracts each with
 * RE2, (?i)(?:^|,)\s*ALGO\s*=\s*(?P<d>[^,]*[^,\s]), for an ASCII text (RE2's \s is [\t\n\f\r ]): the
 * leftmost match starts at the text's start or at a comma; d is the rest of that comma-free run after
 * '=' and blanks, less its trailing blanks, and must not be empty. out[a * stride] gets algo a's value.
 */
static void find_hashes(Ref h, const char *const *algos, const size_t *alens, size_t nalgos, Ref *out,
                        size_t stride) {
    const char *p = h.p;
    size_t n = h.len, left = nalgos;
    for (size_t a = 0; a < nalgos; a++) out[a * stride] = (Ref){NULL, 0, 0};
    for (size_t c = 0; c <= n && left;) {
        size_t i0 = c;
        while (i0 < n && re2_space(p[i0])) i0++;
        for (size_t a = 0; a < nalgos; a++) {
            if (out[a * stride].valid) continue;
            size_t k = 0, i = i0;
            while (k < alens[a] && i + k < n && same_ci(p[i + k], algos[a][k])) k++;
            if (k < alens[a]) continue;
            i += k;
            while (i < n && re2_space(p[i])) i++;
            if (i >= n || p[i] != '=') continue;
            i++;
            while (i < n && re2_space(p[i])) i++;
            size_t end = i;
            while (end < n && p[end] != ',') end++;
            while (end > i && re2_space(p[end - 1])) end--;
            if (end > i) {
                out[a * stride] = (Ref){p + i, (uint32_t)(end - i), 1};
                left--;
            }
        }
        while (c < n && p[c] != ',') c++; /* the next start: after the next comma */
        c++;
    }
}

/*
 * build(plans, group_plan, group_shape, shapes, n_names, hash_column, algos) with plans as load_plans
 * reads them, group_plan / group_shape per group in groups() order, shapes = per shape its field name
 * ids, hash_column the normalised column holding the Sysmon hash lists (-1: none) and algos the names
 * to extract from them (lower case). Returns (name arrays, per shape the offset of each column in its
 * name's array, per shape its @row values as int64 bytes, normalised arrays in batch row order,
 * originals (n, offsets, data), per algo its array or None when a hash list is not ASCII).
 * Once only: the originals' memory is handed over.
 */
static PyObject *Batch_build(BatchObject *B, PyObject *args) {
    PyObject *plans_arg, *gp_arg, *gs_arg, *shapes_arg, *algos_arg;
    Py_ssize_t n_names, hash_column;
    if (!PyArg_ParseTuple(args, "OOOOnnO:build", &plans_arg, &gp_arg, &gs_arg, &shapes_arg, &n_names, &hash_column,
                          &algos_arg))
        return NULL;
    if (B->cell_fn == NULL || B->built) {
        PyErr_SetString(PyExc_RuntimeError, "build: batch not initialised or already built");
        return NULL;
    }
    if (ensure_order(B) < 0) return NULL;
    Plans ps;
    memset(&ps, 0, sizeof ps);
    PyObject *out = NULL, *names_out = NULL, *offsets_out = NULL, *rows_out = NULL, *norm_out = NULL;
    PyObject *orig_out = NULL, *sf = NULL, *hash_out = NULL;
    uint32_t *gplan = NULL, *gshape = NULL, ngp = 0, ngs = 0, *gplan_by_id = NULL;
    uint32_t **shape_names = NULL, *shape_nn = NULL;
    int64_t *gev = NULL, *byrow = NULL;
    Ref *refs = NULL, *hrefs = NULL;
    size_t *soff = NULL, *soff_start = NULL;
    size_t *gstart = NULL, *name_rows = NULL, *name_fill = NULL, *name_start = NULL, *shape_first = NULL;
    size_t *shape_groups = NULL, *file_base = NULL;
    Py_ssize_t nshapes = 0;
    size_t total = B->nevents;

    if (load_plans(plans_arg, &ps) < 0) goto done;
    if (to_u32_list(gp_arg, &gplan, &ngp) < 0 || to_u32_list(gs_arg, &gshape, &ngs) < 0) goto done;
    if (ngp != B->ngroups || ngs != B->ngroups || n_names < 0) {
        PyErr_SetString(PyExc_ValueError, "one plan and one shape per group");
        goto done;
    }
    if ((sf = PySequence_Fast(shapes_arg, "shapes must be a sequence")) == NULL) goto done;
    nshapes = PySequence_Fast_GET_SIZE(sf);
    shape_names = PyMem_RawCalloc((size_t)nshapes + 1, sizeof(uint32_t *));
    shape_nn = PyMem_RawCalloc((size_t)nshapes + 1, sizeof(uint32_t));
    name_rows = PyMem_RawCalloc((size_t)n_names + 1, sizeof(size_t));
    name_fill = PyMem_RawCalloc((size_t)n_names + 1, sizeof(size_t));
    name_start = PyMem_RawCalloc((size_t)n_names + 2, sizeof(size_t));
    gstart = PyMem_RawMalloc((B->ngroups + 1) * sizeof(size_t));
    gev = PyMem_RawMalloc((total + 1) * sizeof(int64_t));
    byrow = PyMem_RawMalloc((total + 1) * sizeof(int64_t));
    gplan_by_id = PyMem_RawMalloc((B->ngroups + 1) * sizeof(uint32_t));
    file_base = PyMem_RawMalloc((B->nfiles + 1) * sizeof(size_t));
    shape_first = PyMem_RawCalloc((size_t)nshapes + 2, sizeof(size_t));
    shape_groups = PyMem_RawMalloc((B->ngroups + 1) * sizeof(size_t));
    if (!shape_names || !shape_nn || !name_rows || !name_fill || !name_start || !gstart || !gev || !byrow ||
        !gplan_by_id || !file_base || !shape_first || !shape_groups) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t s = 0; s < nshapes; s++) {
        if (to_u32_list(PySequence_Fast_GET_ITEM(sf, s), &shape_names[s], &shape_nn[s]) < 0) goto done;
        for (uint32_t j = 0; j < shape_nn[s]; j++)
            if (shape_names[s][j] >= (size_t)n_names) {
                PyErr_SetString(PyExc_ValueError, "name id out of range");
                goto done;
            }
    }
    /* every group against its plan and shape; its events in order (gev) */
    size_t at = 0;
    for (size_t i = 0; i < B->ngroups; i++) {
        const Group *g = &B->groups[B->order[i]];
        if (gplan[i] >= ps.nplans || gshape[i] >= (size_t)nshapes) {
            PyErr_SetString(PyExc_ValueError, "plan or shape id out of range");
            goto done;
        }
        const Plan *p = &ps.plans[gplan[i]];
        size_t ncols = (size_t)g->n_sys + g->n_data;
        if (p->ntable != shape_nn[gshape[i]]) {
            PyErr_SetString(PyExc_ValueError, "a plan's columns differ from its shape's");
            goto done;
        }
        for (uint32_t j = 0; j < p->ntable; j++)
            if (p->table[j] >= ncols) goto bad_position;
        for (size_t k = 0; k < p->src_start[ps.nnorm]; k++)
            if (p->src[k] >= 0 ? (size_t)p->src[k] >= ncols : (size_t)(-1 - p->src[k]) >= ps.nconsts)
                goto bad_position;
        gplan_by_id[B->order[i]] = gplan[i];
        gstart[i] = at;
        for (int64_t e = g->head; e >= 0; e = B->events[e].next) gev[at++] = e;
    }
    /* batch rows: files in order, each file's events in row order */
    file_base[0] = 0;
    for (size_t f = 0; f < B->nfiles; f++) file_base[f + 1] = file_base[f] + (size_t)B->files[f].rows;
    if (at != total || file_base[B->nfiles] != total) {
        PyErr_SetString(PyExc_SystemError, "events and rows disagree");
        goto done;
    }
    for (size_t e = 0; e < total; e++) {
        const Event *x = &B->events[e];
        byrow[file_base[B->groups[x->group].file] + (size_t)x->row] = (int64_t)e;
    }
    /* groups by shape (order kept) */
    for (size_t i = 0; i < B->ngroups; i++) shape_first[gshape[i] + 1]++;
    for (Py_ssize_t s = 0; s < nshapes; s++) shape_first[s + 1] += shape_first[s];
    {
        size_t *fill = PyMem_RawMalloc(((size_t)nshapes + 1) * sizeof(size_t));
        if (fill == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(fill, shape_first, ((size_t)nshapes + 1) * sizeof(size_t));
        for (size_t i = 0; i < B->ngroups; i++) shape_groups[fill[gshape[i]]++] = i;
        PyMem_RawFree(fill);
    }
    /* per shape: @row, and where each of its columns starts in its name's array (soff) */
    if (!(names_out = PyList_New(n_names)) || !(offsets_out = PyList_New(nshapes)) ||
        !(rows_out = PyList_New(nshapes)))
        goto done;
    size_t nsoff = 0;
    for (Py_ssize_t s = 0; s < nshapes; s++) nsoff += shape_nn[s];
    soff = PyMem_RawMalloc((nsoff + 1) * sizeof(size_t));
    soff_start = PyMem_RawMalloc(((size_t)nshapes + 1) * sizeof(size_t));
    if (soff == NULL || soff_start == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    nsoff = 0;
    for (Py_ssize_t s = 0; s < nshapes; s++) {
        size_t rows = 0;
        for (size_t k = shape_first[s]; k < shape_first[s + 1]; k++)
            rows += B->groups[B->order[shape_groups[k]]].count;
        PyObject *offs = PyList_New(shape_nn[s]);
        if (offs == NULL) goto done;
        PyList_SET_ITEM(offsets_out, s, offs);
        soff_start[s] = nsoff;
        for (uint32_t j = 0; j < shape_nn[s]; j++) {
            soff[nsoff++] = name_rows[shape_names[s][j]];
            PyObject *o = PyLong_FromSize_t(name_rows[shape_names[s][j]]);
            if (o == NULL) goto done;
            PyList_SET_ITEM(offs, j, o);
            name_rows[shape_names[s][j]] += rows;
        }
        PyObject *rb = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(rows * sizeof(int64_t)));
        if (rb == NULL) goto done;
        PyList_SET_ITEM(rows_out, s, rb);
        int64_t *dst = (int64_t *)PyBytes_AS_STRING(rb);
        for (size_t k = shape_first[s]; k < shape_first[s + 1]; k++) {
            size_t gi = shape_groups[k];
            for (size_t q = gstart[gi]; q < gstart[gi] + B->groups[B->order[gi]].count; q++)
                *dst++ = B->events[gev[q]].row;
        }
    }
    /* the values of each field name: one pass over each shape's events reading each event's cells once
       (row-major), their texts into one run of refs per name, then each name's array */
    for (Py_ssize_t nm = 0; nm < n_names; nm++) name_start[nm + 1] = name_start[nm] + name_rows[nm];
    size_t nvalues = name_start[n_names];
    if (nvalues > SIZE_MAX / sizeof(Ref) - 1 || (refs = PyMem_RawMalloc((nvalues + 1) * sizeof(Ref))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t s = 0; s < nshapes; s++) {
        const uint32_t *nms = shape_names[s];
        const size_t *so = soff + soff_start[s];
        size_t rank = 0;
        for (size_t k = shape_first[s]; k < shape_first[s + 1]; k++) {
            size_t gi = shape_groups[k];
            const uint32_t *table = ps.plans[gplan[gi]].table;
            for (size_t q = gstart[gi]; q < gstart[gi] + B->groups[B->order[gi]].count; q++, rank++) {
                const Event *e = &B->events[gev[q]];
                const Cell *row = B->cells + e->cells;
                for (uint32_t j = 0; j < shape_nn[s]; j++)
                    refs[name_start[nms[j]] + so[j] + rank] = cell_ref(B, e, row[table[j]]);
            }
        }
    }
    for (Py_ssize_t nm = 0; nm < n_names; nm++) {
        PyObject *arr = string_array(refs + name_start[nm], name_rows[nm], 0);
        if (arr == NULL) goto done;
        PyList_SET_ITEM(names_out, nm, arr);
    }
    PyMem_RawFree(refs);
    refs = NULL;
    /* normalised columns in batch row order: every column's pick of a row at once */
    if (ps.nnorm && total > (SIZE_MAX / sizeof(Ref) - 1) / ps.nnorm) {
        PyErr_NoMemory();
        goto done;
    }
    if ((refs = PyMem_RawMalloc((ps.nnorm * total + 1) * sizeof(Ref))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (size_t i = 0; i < total; i++) {
        const Event *e = &B->events[byrow[i]];
        const Plan *p = &ps.plans[gplan_by_id[e->group]];
        for (size_t c = 0; c < ps.nnorm; c++) refs[c * total + i] = first_source(B, &ps, p, e, c);
    }
    if (!(norm_out = PyList_New((Py_ssize_t)ps.nnorm))) goto done;
    for (size_t c = 0; c < ps.nnorm; c++) {
        PyObject *arr = string_array(refs + c * total, total, 0);
        if (arr == NULL) goto done;
        PyList_SET_ITEM(norm_out, (Py_ssize_t)c, arr);
    }
    /* the hashes of the Sysmon hash lists, when they are all ASCII */
    int ascii = hash_column >= 0 && (size_t)hash_column < ps.nnorm;
    const Ref *lists = ascii ? refs + (size_t)hash_column * total : NULL;
    for (size_t i = 0; i < total && ascii; i++)
        for (uint32_t k = 0; lists[i].valid && k < lists[i].len && ascii; k++)
            if ((unsigned char)lists[i].p[k] >= 0x80) ascii = 0;
    if (!ascii) {
        Py_INCREF(Py_None);
        hash_out = Py_None;
    } else {
        const char *algos[8];
        size_t alens[8];
        Py_ssize_t nalgos;
        PyObject *af = PySequence_Fast(algos_arg, "algos must be a sequence");
        if (af == NULL) goto done;
        nalgos = PySequence_Fast_GET_SIZE(af);
        if (nalgos > 8 || total > (SIZE_MAX / sizeof(Ref) - 1) / 8) {
            Py_DECREF(af);
            PyErr_SetString(PyExc_ValueError, "at most 8 hash names");
            goto done;
        }
        for (Py_ssize_t a = 0; a < nalgos; a++) {
            Py_ssize_t alen;
            algos[a] = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(af, a), &alen);
            alens[a] = (size_t)alen;
            if (algos[a] == NULL) {
                Py_DECREF(af);
                goto done;
            }
        }
        hrefs = PyMem_RawMalloc(((size_t)nalgos * total + 1) * sizeof(Ref));
        if (hrefs == NULL || !(hash_out = PyList_New(nalgos))) {
            Py_DECREF(af);
            if (hrefs == NULL) PyErr_NoMemory();
            goto done;
        }
        for (size_t i = 0; i < total; i++) {
            if (lists[i].valid)
                find_hashes(lists[i], algos, alens, (size_t)nalgos, hrefs + i, total);
            else
                for (Py_ssize_t a = 0; a < nalgos; a++) hrefs[(size_t)a * total + i] = lists[i];
        }
        Py_DECREF(af); /* algos point into its strs: used above only */
        for (Py_ssize_t a = 0; a < nalgos; a++) {
            PyObject *arr = string_array(hrefs + (size_t)a * total, total, 1);
            if (arr == NULL) goto done;
            PyList_SET_ITEM(hash_out, a, arr);
        }
    }
    /* originals (large_string): the arena itself when its events lie in batch row order */
    {
        PyObject *offs = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((total + 1) * sizeof(int64_t)));
        if (offs == NULL) goto done;
        int64_t *o64 = (int64_t *)PyBytes_AS_STRING(offs);
        int in_order = 1;
        for (size_t r = 0; r < total && in_order; r++) in_order = byrow[r] == (int64_t)r;
        PyObject *data;
        if (in_order) {
            for (size_t r = 0; r < total; r++) o64[r] = (int64_t)B->events[r].orig;
            o64[total] = (int64_t)B->orig.len;
            data = memory_new(B->orig.p, B->orig.len);
            B->orig.p = NULL; /* handed over (freed with the Memory on failure too) */
            B->orig.cap = 0;
        } else {
            char *p = PyMem_RawMalloc(B->orig.len + 1);
            if (p == NULL) {
                Py_DECREF(offs);
                PyErr_NoMemory();
                goto done;
            }
            size_t pos = 0;
            for (size_t r = 0; r < total; r++) {
                const Event *x = &B->events[byrow[r]];
                size_t end = (size_t)byrow[r] + 1 < total ? B->events[byrow[r] + 1].orig : B->orig.len;
                o64[r] = (int64_t)pos;
                memcpy(p + pos, B->orig.p + x->orig, end - x->orig);
                pos += end - x->orig;
            }
            o64[total] = (int64_t)pos;
            data = memory_new(p, pos);
        }
        if (data == NULL) {
            Py_DECREF(offs);
            goto done;
        }
        B->built = 1;
        orig_out = Py_BuildValue("(nNN)", (Py_ssize_t)total, offs, data);
        if (orig_out == NULL) goto done;
    }
    out = PyTuple_Pack(6, names_out, offsets_out, rows_out, norm_out, orig_out, hash_out);
    goto done;
bad_position:
    PyErr_SetString(PyExc_ValueError, "a plan refers to a column its group lacks");
done:
    Py_XDECREF(names_out);
    Py_XDECREF(offsets_out);
    Py_XDECREF(rows_out);
    Py_XDECREF(norm_out);
    Py_XDECREF(orig_out);
    Py_XDECREF(hash_out);
    Py_XDECREF(sf);
    plans_free(&ps);
    PyMem_RawFree(gplan);
    PyMem_RawFree(gshape);
    if (shape_names != NULL)
        for (Py_ssize_t s = 0; s < nshapes; s++) PyMem_RawFree(shape_names[s]);
    PyMem_RawFree(shape_names);
    PyMem_RawFree(shape_nn);
    PyMem_RawFree(gev);
    PyMem_RawFree(refs);
    PyMem_RawFree(hrefs);
    PyMem_RawFree(soff);
    PyMem_RawFree(soff_start);
    PyMem_RawFree(byrow);
    PyMem_RawFree(gstart);
    PyMem_RawFree(gplan_by_id);
    PyMem_RawFree(name_rows);
    PyMem_RawFree(name_fill);
    PyMem_RawFree(name_start);
    PyMem_RawFree(file_base);
    PyMem_RawFree(shape_first);
    PyMem_RawFree(shape_groups);
    return out;
}

static PyObject *Batch_stats(BatchObject *B, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("(nn)", B->fast, B->fallbacks);
}

static PyMethodDef Batch_methods[] = {
    {"open_file", (PyCFunction)Batch_open_file, METH_NOARGS, "A new file; returns its id."},
    {"ingest", (PyCFunction)Batch_ingest, METH_VARARGS, "ingest(file, texts, fallback) -> events added"},
    {"groups", (PyCFunction)Batch_groups, METH_NOARGS, "[(file, key, rows, dropped)] in finish order"},
    {"file_rows", (PyCFunction)Batch_file_rows, METH_NOARGS, "events per file"},
    {"build", (PyCFunction)Batch_build, METH_VARARGS, "the Arrow buffers of the batch (once)"},
    {"stats", (PyCFunction)Batch_stats, METH_NOARGS, "(events on the C path, texts given to the fallback)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "aptcatch.hunt.readers._winfast.Batch",
    .tp_basicsize = sizeof(BatchObject),
    .tp_dealloc = (destructor)Batch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Windows events of a batch of files, their values kept as text spans (see the module doc).",
    .tp_methods = Batch_methods,
    .tp_init = (initproc)Batch_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_winfast", "C accelerator of aptcatch.hunt.readers.winfast.", -1, NULL, NULL, NULL, NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__winfast(void) {
    if (PyType_Ready(&BatchType) < 0 || PyType_Ready(&MemoryType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&BatchType);
    if (PyModule_AddObject(m, "Batch", (PyObject *)&BatchType) < 0) {
        Py_DECREF(&BatchType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
