/* The cost of libhdf5 alone, for the benchmark: what a writer that keeps one
 * dataset per tensor cannot go below. Plain C calls, no checks beyond return
 * codes; it writes only its own files. */
#include <hdf5.h>
#include <stdio.h>

/* Creates `path` with `count` datasets of `elements` float32 each (compact
 * layout, object times off) and writes `data` to each. Returns 1 on success. */
static inline int hdf5_floor_write_many(const char *path, long count, const void *data, long elements) {
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_obj_track_times(fcpl, 0);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    if (file < 0) return 0;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0);
    H5Pset_layout(dcpl, H5D_COMPACT);
    hsize_t dims[1] = {(hsize_t)elements};
    hid_t space = H5Screate_simple(1, dims, NULL);
    int ok = 1;
    char name[32];
    for (long i = 0; i < count; i++) {
        snprintf(name, sizeof name, "t%ld", i);
        hid_t dataset = H5Dcreate2(file, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (dataset < 0) { ok = 0; break; }
        if (H5Dwrite(dataset, H5T_IEEE_F32LE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) ok = 0;
        H5Dclose(dataset);
    }
    H5Sclose(space);
    H5Pclose(dcpl);
    return H5Fclose(file) >= 0 && ok;
}
