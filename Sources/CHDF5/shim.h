// Thin shims for the HDF5 macros and globals that do not import into Swift.
#ifndef CHDF5_SHIM_H
#define CHDF5_SHIM_H

#include <hdf5.h>
#include <string.h>
#include <stdlib.h>

/// Keeps libhdf5 from registering its atexit handler: after a write error
/// (disk full, file too large) HDF5 1.10 leaves the file half-closed and its
/// exit-time cleanup then crashes the process. Sheaf closes every file itself.
/// Must run before the library initialises, so every getter below calls it.
static inline void chdf5_prepare(void) {
    static int done = 0;
    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        H5dont_atexit();
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    }
}

static inline hid_t chdf5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_e_default(void) { return H5E_DEFAULT; }
static inline hid_t chdf5_f_obj_all_files(void) { return (hid_t)H5F_OBJ_ALL; }
static inline unsigned chdf5_f_obj_all(void) { return H5F_OBJ_ALL; }
static inline hid_t chdf5_s_all(void) { return H5S_ALL; }
static inline size_t chdf5_t_variable(void) { return H5T_VARIABLE; }
static inline haddr_t chdf5_haddr_undef(void) { return HADDR_UNDEF; }

static inline unsigned chdf5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_f_acc_excl(void) { return H5F_ACC_EXCL; }

static inline hid_t chdf5_p_file_create(void) { chdf5_prepare(); return H5P_FILE_CREATE; }
static inline hid_t chdf5_p_file_access(void) { chdf5_prepare(); return H5P_FILE_ACCESS; }
static inline hid_t chdf5_p_group_create(void) { chdf5_prepare(); return H5P_GROUP_CREATE; }
static inline hid_t chdf5_p_dataset_create(void) { chdf5_prepare(); return H5P_DATASET_CREATE; }
static inline hid_t chdf5_p_link_create(void) { chdf5_prepare(); return H5P_LINK_CREATE; }

static inline hid_t chdf5_t_std_i8le(void) { chdf5_prepare(); return H5T_STD_I8LE; }
static inline hid_t chdf5_t_std_i16le(void) { chdf5_prepare(); return H5T_STD_I16LE; }
static inline hid_t chdf5_t_std_i32le(void) { chdf5_prepare(); return H5T_STD_I32LE; }
static inline hid_t chdf5_t_std_i64le(void) { chdf5_prepare(); return H5T_STD_I64LE; }
static inline hid_t chdf5_t_std_u8le(void) { chdf5_prepare(); return H5T_STD_U8LE; }
static inline hid_t chdf5_t_std_u16le(void) { chdf5_prepare(); return H5T_STD_U16LE; }
static inline hid_t chdf5_t_std_u32le(void) { chdf5_prepare(); return H5T_STD_U32LE; }
static inline hid_t chdf5_t_std_u64le(void) { chdf5_prepare(); return H5T_STD_U64LE; }
static inline hid_t chdf5_t_ieee_f32le(void) { chdf5_prepare(); return H5T_IEEE_F32LE; }
static inline hid_t chdf5_t_ieee_f64le(void) { chdf5_prepare(); return H5T_IEEE_F64LE; }
static inline hid_t chdf5_t_c_s1(void) { chdf5_prepare(); return H5T_C_S1; }

/// The file address of an object, stable for the life of the file: two links
/// to one object give the same value. Hides the 1.10 / 1.12 API difference.
static inline herr_t chdf5_object_address(hid_t obj, unsigned long long *out) {
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t info;
    herr_t rc = H5Oget_info3(obj, &info, H5O_INFO_BASIC);
    if (rc < 0) return rc;
    haddr_t addr = 0; /* the native driver keeps the address in the token's first bytes */
    memcpy(&addr, &info.token, sizeof(addr));
    *out = (unsigned long long)addr;
    return rc;
#else
    H5O_info_t info;
    herr_t rc = H5Oget_info2(obj, &info, H5O_INFO_BASIC);
    if (rc < 0) return rc;
    *out = (unsigned long long)info.addr;
    return rc;
#endif
}

/// The number of open identifiers in files whose name starts with `prefix`,
/// counted in one call so no other thread can close one in between.
static inline long long chdf5_open_objects_under(const char *prefix) {
    ssize_t count = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (count < 0) return -1;
    if (count == 0) return 0;
    hid_t *ids = (hid_t *)malloc(sizeof(hid_t) * (size_t)count);
    if (!ids) return -1;
    ssize_t found = H5Fget_obj_ids((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL, (size_t)count, ids);
    long long matching = 0;
    size_t length = strlen(prefix);
    char name[4096];
    char resolved[4096];
    for (ssize_t i = 0; i < found; i++) {
        ssize_t n = H5Fget_name(ids[i], name, sizeof name);
        if (n < 0) continue;
        /* Files opened through /proc/self/fd/N are counted under their real path. */
        const char *real = name;
        if (strncmp(name, "/proc/self/fd/", 14) == 0 && realpath(name, resolved)) real = resolved;
        if (strncmp(real, prefix, length) == 0) matching++;
    }
    free(ids);
    return found < 0 ? -1 : matching;
}

/// Number of attributes on an object.
static inline long long chdf5_attribute_count(hid_t obj) {
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t info;
    if (H5Oget_info3(obj, &info, H5O_INFO_NUM_ATTRS) < 0) return -1;
#else
    H5O_info_t info;
    if (H5Oget_info2(obj, &info, H5O_INFO_NUM_ATTRS) < 0) return -1;
#endif
    return (long long)info.num_attrs;
}

typedef struct {
    char *buffer;
    size_t capacity;
    size_t used;
} chdf5_error_sink;

static inline herr_t chdf5_error_walker(unsigned n, const H5E_error2_t *err, void *data) {
    chdf5_error_sink *sink = (chdf5_error_sink *)data;
    const char *desc = (err && err->desc) ? err->desc : "";
    const char *func = (err && err->func_name) ? err->func_name : "";
    if (sink->used + 1 >= sink->capacity) return 0;
    int w = snprintf(sink->buffer + sink->used, sink->capacity - sink->used,
                     "%s%s: %s", sink->used ? "; " : "", func, desc);
    if (w > 0) {
        sink->used += (size_t)w;
        if (sink->used >= sink->capacity) sink->used = sink->capacity - 1;
    }
    (void)n;
    return 0;
}

/// Writes HDF5's current error stack (innermost first) into `buffer` as one line
/// and clears the stack. Returns the number of bytes written.
static inline size_t chdf5_take_error_stack(char *buffer, size_t capacity) {
    if (capacity == 0) return 0;
    buffer[0] = 0;
    chdf5_error_sink sink = { buffer, capacity, 0 };
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, chdf5_error_walker, &sink);
    H5Eclear2(H5E_DEFAULT);
    return sink.used;
}

/// Turns off HDF5's automatic printing of error stacks to stderr, once per
/// thread: a thread-safe libhdf5 keeps that setting (and the stack) per thread.
static inline herr_t chdf5_silence_errors(void) {
    static __thread int silenced = 0;
    if (silenced) return 0;
    silenced = 1;
    return H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/// The float16 file type h5py uses: IEEE half precision, little-endian.
static inline hid_t chdf5_create_float16_type(void) {
    chdf5_prepare();
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 ||
        H5Tset_ebias(t, 15) < 0 || H5Tset_precision(t, 16) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/// The bool file type h5py uses: an 8-bit signed enum {FALSE = 0, TRUE = 1}.
static inline hid_t chdf5_create_bool_type(void) {
    chdf5_prepare();
    hid_t t = H5Tenum_create(H5T_STD_I8LE);
    if (t < 0) return t;
    signed char f = 0, tr = 1;
    if (H5Tenum_insert(t, "FALSE", &f) < 0 || H5Tenum_insert(t, "TRUE", &tr) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/// The complex file type h5py uses: a compound {r, i} of two IEEE floats.
static inline hid_t chdf5_create_complex_type(int bits) {
    chdf5_prepare();
    hid_t part = bits == 64 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
    size_t half = bits == 64 ? 4 : 8;
    hid_t t = H5Tcreate(H5T_COMPOUND, half * 2);
    if (t < 0) return t;
    if (H5Tinsert(t, "r", 0, part) < 0 || H5Tinsert(t, "i", half, part) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/// A variable-length UTF-8 string type, as h5py writes `str` attributes.
static inline hid_t chdf5_create_vlen_utf8_type(void) {
    chdf5_prepare();
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/// Visits the links of a group once, in name order, calling `visit` with each
/// link's name and type (H5L_TYPE_HARD, _SOFT, _EXTERNAL or a user-defined
/// type); a non-zero return from `visit` stops the walk and is returned.
/// One pass over the group: asking for names by index costs a search each.
typedef int (*chdf5_link_visitor)(const char *name, int type, void *context);
typedef struct { chdf5_link_visitor visit; void *context; } chdf5_link_walk;

#if H5_VERSION_GE(1, 12, 0)
static inline herr_t chdf5_link_trampoline(hid_t group, const char *name, const H5L_info2_t *info, void *data) {
#else
static inline herr_t chdf5_link_trampoline(hid_t group, const char *name, const H5L_info_t *info, void *data) {
#endif
    (void)group;
    chdf5_link_walk *walk = (chdf5_link_walk *)data;
    return (herr_t)walk->visit(name, (int)info->type, walk->context);
}

static inline herr_t chdf5_iterate_links(hid_t group, chdf5_link_visitor visit, void *context) {
    chdf5_link_walk walk = { visit, context };
    hsize_t index = 0;
#if H5_VERSION_GE(1, 12, 0)
    return H5Literate2(group, H5_INDEX_NAME, H5_ITER_INC, &index, chdf5_link_trampoline, &walk);
#else
    return H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, chdf5_link_trampoline, &walk);
#endif
}

/// Visits the attributes of an object once, in name order.
typedef int (*chdf5_attribute_visitor)(const char *name, void *context);
typedef struct { chdf5_attribute_visitor visit; void *context; } chdf5_attribute_walk;

static inline herr_t chdf5_attribute_trampoline(hid_t object, const char *name, const H5A_info_t *info, void *data) {
    (void)object; (void)info;
    chdf5_attribute_walk *walk = (chdf5_attribute_walk *)data;
    return (herr_t)walk->visit(name, walk->context);
}

static inline herr_t chdf5_iterate_attributes(hid_t object, chdf5_attribute_visitor visit, void *context) {
    chdf5_attribute_walk walk = { visit, context };
    hsize_t index = 0;
    return H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, chdf5_attribute_trampoline, &walk);
}

/// Process-wide defences, run once before the first libhdf5 call: external
/// links cannot be traversed at all (their link class is unregistered), no
/// filter plugin is ever loaded from disk, and the environment variables that
/// redirect external and virtual file lookups are ignored.
static inline void chdf5_harden(void) {
    unsetenv("HDF5_EXT_PREFIX");
    unsetenv("HDF5_VDS_PREFIX");
    unsetenv("HDF5_EXTFILE_PREFIX");
    unsetenv("HDF5_PLUGIN_PATH");
    unsetenv("HDF5_PLUGIN_PRELOAD");
    H5PLset_loading_state(0);
    if (H5Lis_registered(H5L_TYPE_EXTERNAL) > 0) H5Lunregister(H5L_TYPE_EXTERNAL);
}


/// The 1.10 dataset-region reference type (`hdset_reg_ref_t`, 12 bytes).
static inline hid_t chdf5_t_std_ref_dsetreg(void) { chdf5_prepare(); return H5T_STD_REF_DSETREG; }
static inline size_t chdf5_region_ref_size(void) { return sizeof(hdset_reg_ref_t); }

/// A fixed-length UTF-8 string type of `size` bytes, NUL-padded (h5py reads
/// it as bytes `|S<size>`, `.asstr()` as text).
static inline hid_t chdf5_create_fixed_utf8_type(size_t size) {
    chdf5_prepare();
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, size) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/// Writes into `ref` a region reference to the block `start ..< start+count`
/// of the 1-d dataset `name` (a path from `loc`), whose dataspace is `space`.
static inline herr_t chdf5_region_ref_create(void *ref, hid_t loc, const char *name, hid_t space,
                                             unsigned long long start, unsigned long long count) {
    hsize_t s = (hsize_t)start, c = (hsize_t)count;
    if (H5Sselect_hyperslab(space, H5S_SELECT_SET, &s, NULL, &c, NULL) < 0) return -1;
    return H5Rcreate(ref, loc, name, H5R_DATASET_REGION, space);
}

/// What a region reference (read from dataset `holder`) points at: the
/// address of the dataset it names and, when its selection is one block of a
/// 1-d dataspace, that block. Returns 1 with `start`/`count` set for one
/// block, 0 for any other selection, negative when the reference does not
/// resolve to a dataset. Reads no raw data.
static inline int chdf5_region_ref_block(hid_t holder, const void *ref, unsigned long long *address,
                                         unsigned long long *start, unsigned long long *count) {
    H5O_type_t type;
    if (H5Rget_obj_type2(holder, H5R_DATASET_REGION, ref, &type) < 0 || type != H5O_TYPE_DATASET) return -1;
    hid_t object = H5Rdereference2(holder, H5P_DEFAULT, H5R_DATASET_REGION, ref);
    if (object < 0) return -1;
    herr_t rc = chdf5_object_address(object, address);
    H5Oclose(object);
    if (rc < 0) return -1;
    hid_t space = H5Rget_region(holder, H5R_DATASET_REGION, ref);
    if (space < 0) return -1;
    int result = 0;
    if (H5Sget_simple_extent_ndims(space) == 1 && H5Sget_select_type(space) == H5S_SEL_HYPERSLABS
        && H5Sget_select_hyper_nblocks(space) == 1) {
        hsize_t block[2] = {0, 0};
        if (H5Sget_select_hyper_blocklist(space, 0, 1, block) >= 0 && block[1] >= block[0]) {
            *start = (unsigned long long)block[0];
            *count = (unsigned long long)(block[1] - block[0] + 1);
            result = 1;
        } else {
            result = -1;
        }
    }
    H5Sclose(space);
    return result;
}

#endif
