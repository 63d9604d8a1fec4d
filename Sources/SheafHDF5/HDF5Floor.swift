import CHDF5

/// The cost of libhdf5 alone, for the benchmark harness: what a writer that
/// keeps one dataset per tensor cannot go below. Calls the C library directly
/// (no funnel, no checks), so it is not for use on anything but its own files.
@_spi(Benchmarks)
public enum HDF5Floor {
    /// Creates `path` with `count` datasets of `elements` float32 each (compact
    /// layout, object times off, no creation-order index) and writes `data` to each.
    /// Returns false if any call failed.
    public static func writeMany(path: String, count: Int, data: UnsafeRawBufferPointer) -> Bool {
        let elements = data.count / 4
        let fcpl = H5Pcreate(chdf5_p_file_create())
        H5Pset_obj_track_times(fcpl, false)
        let file = H5Fcreate(path, chdf5_f_acc_trunc(), fcpl, chdf5_p_default())
        H5Pclose(fcpl)
        guard file >= 0 else { return false }
        let dcpl = H5Pcreate(chdf5_p_dataset_create())
        H5Pset_obj_track_times(dcpl, false)
        H5Pset_layout(dcpl, H5D_COMPACT)
        var dims = [hsize_t(elements)]
        let space = H5Screate_simple(1, &dims, nil)
        let type = chdf5_t_ieee_f32le()
        var ok = true
        for i in 0..<count {
            let dataset = H5Dcreate2(file, "t\(i)", type, space, chdf5_p_default(), dcpl, chdf5_p_default())
            if dataset < 0 { ok = false; break }
            if H5Dwrite(dataset, type, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), data.baseAddress) < 0 { ok = false }
            H5Dclose(dataset)
        }
        H5Sclose(space)
        H5Pclose(dcpl)
        return H5Fclose(file) >= 0 && ok
    }
}
