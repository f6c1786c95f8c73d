/*
 * _winfast_mem.c: memory of the _winfast extension (see _winfast.c): growable arrays, the strict JSON
 * tape parser the event texts are read with, and the memory handed to Arrow (Memory objects over the
 * batch's buffers, Arrow string arrays written from text references).
 */
#include "_winfast.h"

/* ------------------------------------------------------------------ growable memory */

int wf_grow_from(void **p, size_t *cap, size_t need, size_t elsize, size_t first) {
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

int wf_grow(void **p, size_t *cap, size_t need, size_t elsize) { return wf_grow_from(p, cap, need, elsize, 16); }

/* ------------------------------------------------------------------ JSON tape parser */

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

/* whether key node k repeats a key of the object at idx parsed so far (its members end before k) */
static int repeats(const Parser *P, int64_t obj, int64_t k) {
    int64_t j = obj + 1;
    while (j < k) {
        if (same_key(P, j, k)) return 1;
        j = P->nodes[j + 1].next;
    }
    return 0;
}

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
            int64_t v = wf_parse_value(P, depth + 1);
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
            int64_t v = wf_parse_value(P, depth + 1);
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

int64_t wf_parse_value(Parser *P, int depth) {
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

PyTypeObject wf_MemoryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "aptcatch.hunt.readers._winfast.Memory",
    .tp_basicsize = sizeof(MemoryObject),
    .tp_dealloc = (destructor)Memory_dealloc,
    .tp_as_buffer = &Memory_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Memory written by the batch, read by pyarrow (buffer protocol, read-only).",
};

/* takes p (malloc'd, freed on failure) */
PyObject *wf_memory_new(char *p, size_t len) {
    MemoryObject *m = PyObject_New(MemoryObject, &wf_MemoryType);
    if (m == NULL) {
        PyMem_RawFree(p);
        return NULL;
    }
    m->p = p;
    m->len = (Py_ssize_t)len;
    return (PyObject *)m;
}

/* An Arrow string array of n texts (two passes: sizes, then copies; ASCII lower-cased when `lower`):
   (length, null count, validity or None, offsets, data) */
PyObject *wf_string_array(const Ref *refs, size_t n, int lower) {
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
