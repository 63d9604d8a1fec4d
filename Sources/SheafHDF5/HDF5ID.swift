import CHDF5

/// The raw HDF5 identifier type (`hid_t`).
public typealias HDF5ID = hid_t
