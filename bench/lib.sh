# bench/lib.sh — what the benchmark scripts share (sourced, not run): their
# messages and the Release build they measure.

say() { echo "bench: $(date +%T) $*" >&2; }
die() {
	echo "bench: error: $*" >&2
	exit 1
}

# bench_build SRC LOG: sets and exports BUILD (as VDISK_BUILD): $VDISK_BUILD
# when set, else SRC/build-bench, configured Release if new and built
# (vdiskd, vdiskctl; output to LOG); sets BUILD_TYPE and SANITIZE from its
# cache, for the reports, and warns when it is not a Release build or has
# sanitizers on.
bench_build() {
	local src=$1 log=$2
	if [[ -n ${VDISK_BUILD:-} ]]; then
		BUILD=$(readlink -m "$VDISK_BUILD")
	else
		BUILD=$src/build-bench
		if [[ ! -f $BUILD/CMakeCache.txt ]]; then
			say "configuring a Release build in $BUILD"
			cmake -S "$src" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$log" 2>&1 ||
				{ tail -n 30 "$log" >&2; die "cmake configure failed"; }
		fi
		say "building vdiskd and vdiskctl in $BUILD"
		cmake --build "$BUILD" -j"$(nproc)" --target vdiskd vdiskctl >>"$log" 2>&1 ||
			{ tail -n 30 "$log" >&2; die "build failed"; }
	fi
	[[ -x $BUILD/service/vdiskd && -x $BUILD/cli/vdiskctl ]] ||
		die "$BUILD lacks service/vdiskd or cli/vdiskctl"
	export VDISK_BUILD=$BUILD
	BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
	SANITIZE=$(sed -n 's/^VDISK_SANITIZE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
	[[ $BUILD_TYPE == Release ]] || say "warning: $BUILD is a '${BUILD_TYPE:-?}' build, not Release"
	[[ $SANITIZE != ON ]] || say "warning: $BUILD has sanitizers on: figures will be slow"
}
