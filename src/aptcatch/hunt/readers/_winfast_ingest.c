/*
 * _winfast_ingest.c: ingest of the _winfast batch (see _winfast.c): the group of each event (signature
 * caches, per-file groups in first-seen order), its row appended to its group, the values the Python
 * path parsed converted to cells, and the type's ingest methods (lifecycle, open_file, ingest).
 */
#include "_winfast.h"

/* ------------------------------------------------------------------ groups and events */

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
        PyObject *key = wf_build_key(B, P);
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
    if (wf_grow_from((void **)&B->orig.p, &B->orig.cap, B->orig.len + n, 1, RESERVE) < 0 ||
        wf_grow_from((void **)&B->cells, &B->capcells, B->ncells + B->npend, sizeof(Cell),
                     RESERVE / sizeof(Cell)) < 0 ||
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
    int64_t root = wf_parse_value(&P, 0);
    B->nodes = P.nodes;
    B->capnodes = P.cap;
    if (root < 0) return (int)root;
    skip_ws(&P);
    if (P.i != n) return BAIL;
    B->ev_extra = B->extra.len;
    int r = wf_interpret(B, &P);
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

/* ------------------------------------------------------------------ the type: ingest */

void wf_Batch_dealloc(BatchObject *B) {
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

int wf_Batch_init(BatchObject *B, PyObject *args, PyObject *kwds) {
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

PyObject *wf_Batch_open_file(BatchObject *B, PyObject *Py_UNUSED(ignored)) {
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

PyObject *wf_Batch_ingest(BatchObject *B, PyObject *args) {
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
