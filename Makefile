# vimage: FreeBSD 7-style network stack virtualization in user space.
CARGO ?= cargo
REL := target/release
SOCK ?= $(CURDIR)/target/demo.sock

.PHONY: all build test demo demo1 demo-exercises bench bench-soak bench-tcp bench-apps fmt clippy clean

all: build

build:
	$(CARGO) build --release --workspace

# Every test, with and without `options VIMAGE` (the tools must be built before the
# scenario tests run them).
test:
	$(CARGO) build --workspace
	$(CARGO) test --workspace
	$(CARGO) build --workspace --no-default-features --features inet6
	# (the 100 MiB lossy-link TCP transfer runs once, in the VIMAGE pass)
	VK_TCP_BYTES=8388608 $(CARGO) test --workspace --no-default-features --features inet6
	# Without options INET6: the workspace builds, the kernel's own tests pass
	# (in a target dir of its own, so the binaries above stay as they are).
	$(CARGO) build --workspace --no-default-features --features vimage --target-dir target/noinet6
	$(CARGO) test -p vimage-kern -p vimage-net -p vimage-inet -p vimage-conf -p vimage-kmod --no-default-features --features vimage --target-dir target/noinet6
	$(CARGO) build --workspace

# The tutorial's Demo 1 (an IMUNES topology of routers running RIP, a link
# broken and traffic rerouted), then its vimage steps and Exercises 1-3; each
# part boots a kernel of its own and halts it.
demo: build
	@VIMAGE_SOCKET=$(SOCK) sh scripts/demo1.sh $(REL)
	@VIMAGE_SOCKET=$(SOCK) sh scripts/demo.sh $(REL)

# Only Demo 1, or only the exercises.
demo1: build
	@VIMAGE_SOCKET=$(SOCK) sh scripts/demo1.sh $(REL)
demo-exercises: build
	@VIMAGE_SOCKET=$(SOCK) sh scripts/demo.sh $(REL)

# Everything in under 5 minutes on 2 cores: the soak runs 3,000 vimages a
# round here (make bench-soak alone runs the full 10,000).
bench: build
	$(CARGO) bench --bench vimage_create
	$(CARGO) bench --bench vimage_list
	$(CARGO) bench --bench netgraph_chain
	$(CARGO) bench --bench forwarding_chain
	$(CARGO) bench --bench route_table
	$(CARGO) bench --bench imunes_scale
	SOAK_N=$${SOAK_N:-3000} $(MAKE) bench-soak

# 10,000 vimages made and destroyed through vimage(8), three rounds, with
# vkernel's RSS after each (a few minutes; SOAK_N=2000 make bench-soak is quicker).
bench-soak: build
	$(CARGO) bench --bench vimage_soak

# The tutorial's experiment: TCP over lo0 with and without options VIMAGE, side by
# side (tcpbench processes through the syscall door; Linux's iperf3 alongside),
# and the kernel's CPU cost per MB on one thread from both builds.
NOVIMAGE := target/novimage
BENCHEXE := sed -n 's/.*Executable.*(\(.*\))/\1/p'
bench-tcp: build
	$(CARGO) build --release --workspace --no-default-features --features inet6 --target-dir $(NOVIMAGE)
	VB=$$($(CARGO) bench --bench tcp_loopback --no-run 2>&1 | $(BENCHEXE)); \
	NB=$$($(CARGO) bench --no-default-features --features inet6 --bench tcp_loopback --no-run --target-dir $(NOVIMAGE) 2>&1 | $(BENCHEXE)); \
	bash scripts/bench-tcp.sh $(REL) $(NOVIMAGE)/release "$$VB" "$$NB"

# Unmodified programs (iperf3, busybox httpd, python3) in two vimages joined by
# eifaces, next to the same in two network namespaces joined by a veth pair;
# needs root (unshare -n, ip netns), else prints why each side was skipped.
bench-apps: build
	bash scripts/bench-apps.sh $(REL)

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
