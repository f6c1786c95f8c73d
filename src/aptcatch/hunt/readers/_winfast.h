/*
 * _winfast.h: what the files of the _winfast extension share (private; see _winfast.c for why the
 * extension exists and how it works): limits and kinds, the value cell, the JSON tape and its node,
 * the batch object and its parts, the small hot helpers every file inlines (growable buffers, tape
 * lookups, pending cells) and the functions one file defines for another (prefix wf_).
 */
#ifndef APTCATCH_WINFAST_H
#define APTCATCH_WINFAST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* the wf_ functions are this extension's own: hidden in the shared object, so that calls to them
   are direct (no PLT) and the compiler may still inline them within their file, as when all was one */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

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

int wf_grow_from(void **p, size_t *cap, size_t need, size_t elsize, size_t first);
int wf_grow(void **p, size_t *cap, size_t need, size_t elsize);

/* capacity for `need` elements: the common case inline, growth out of line */
static inline int reserve(void **p, size_t *cap, size_t need, size_t elsize) {
    return need <= *cap ? 0 : wf_grow(p, cap, need, elsize);
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

/* ------------------------------------------------------------------ JSON tape */

typedef struct {
    const unsigned char *s;
    size_t n, i;
    Node *nodes;
    size_t nn, cap;
} Parser;

int64_t wf_parse_value(Parser *P, int depth);

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

static inline unsigned hex4(const unsigned char *s) {
    return (unsigned)(hexval(s[0]) << 12 | hexval(s[1]) << 8 | hexval(s[2]) << 4 | hexval(s[3]));
}

static inline int same_key(const Parser *P, int64_t a, int64_t b) {
    const Node *x = &P->nodes[a], *y = &P->nodes[b];
    uint32_t la = x->end - x->start;
    return la == y->end - y->start && memcmp(P->s + x->start, P->s + y->start, la) == 0;
}

/* the value node of member `key` of object `obj`, or -1 */
static inline int64_t obj_get(const Parser *P, int64_t obj, const char *key, uint32_t len) {
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

/* ------------------------------------------------------------------ pending cells (_winfast_text.c) */

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

/* parse_record on the tape: key signature and pending cells, or BAIL */
int wf_interpret(BatchObject *B, const Parser *P);
/* (Channel, EventID, Provider name, data names, (System keys, System layout)) as parse_record makes it */
PyObject *wf_build_key(BatchObject *B, const Parser *P);
int wf_list_add(PyObject *list, PyObject *item);

/* ------------------------------------------------------------------ memory handed to Arrow */

/* a value's text for an Arrow string array: valid or null */
typedef struct {
    const char *p;
    uint32_t len;
    int valid;
} Ref;

extern PyTypeObject wf_MemoryType;
/* takes p (malloc'd, freed on failure) */
PyObject *wf_memory_new(char *p, size_t len);
PyObject *wf_string_array(const Ref *refs, size_t n, int lower);

/* _winfast_squid.c: Squid native lines (module function squid_native) */
void wf_squid_init(void);
PyObject *wf_squid_native(PyObject *module, PyObject *args);

/* ------------------------------------------------------------------ the type's methods */

void wf_Batch_dealloc(BatchObject *B);
int wf_Batch_init(BatchObject *B, PyObject *args, PyObject *kwds);
PyObject *wf_Batch_open_file(BatchObject *B, PyObject *Py_UNUSED(ignored));
PyObject *wf_Batch_ingest(BatchObject *B, PyObject *args);
int wf_ensure_order(BatchObject *B);
PyObject *wf_Batch_build(BatchObject *B, PyObject *args);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif /* APTCATCH_WINFAST_H */
