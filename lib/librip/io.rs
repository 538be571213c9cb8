//! The daemons' system side (sockets, routing socket, interfaces) over libvimage.
