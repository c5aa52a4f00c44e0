#!/usr/bin/env bash
# Compile-time cost of `#[derive(Device)]`: generates, in a temporary
# directory, two crates with the same 100 device structs of 50 properties
# each, one with the derive (and its `#[prop]` attributes and `impl
# DeviceImpl`) and one with the plain structs, then times `cargo build` of
# each.
#
#   bench/derive-cost.sh                  # 100 × 50, debug (`cargo build`)
#   PROFILE=release bench/derive-cost.sh  # the same with --release
#   DEVICES=20 PROPS=10 bench/derive-cost.sh
#   KEEP=1 bench/derive-cost.sh           # keep the generated crates
#   REPS=5 bench/derive-cost.sh           # timed builds per crate (median)
#   COLD_REPS=5 bench/derive-cost.sh      # cold builds per crate (median, 3)
#   INSTR=1 DEVICES=20 bench/derive-cost.sh  # also count rustc's instructions
#                                         # (callgrind; ~1 min per 20 devices)
#   FLOOR=1 INSTR=1 DEVICES=20 bench/derive-cost.sh  # and two hand-written
#                                         # tables without the derive (below)
#
# Two figures per crate:
#   * crate only: the dependencies (qomgen, its macros, serde_json, ...) are
#     built first, then the crate alone is rebuilt from scratch
#     (`cargo clean -p`, no incremental cache) — the cost of the declarations;
#   * cold: `cargo build` in an empty target directory, dependencies
#     included, as a user's first build (median of COLD_REPS, the crates
#     alternating). Both crates depend on qomgen (the plain structs use its
#     field types), so they build the same dependencies.
# With INSTR=1, the crate-only build of each crate is also run once under
# callgrind (valgrind): instructions, unlike seconds, do not move with the
# load of the machine, so before/after comparisons of the derive use them.
# With FLOOR=1, two more crates hold the plain structs plus a hand-written
# table, no derive and no proc macro, as lower bounds for any derive:
#   * floor-strings: per property a static entry of name, description and
#     `since` (`""` for none), what every property table holds, with no
#     type in it;
#   * floor-typed: per device one string of the names, descriptions and
#     `since`s, and per property the field's offset and a reference to a
#     vtable of its kind (`PropertyKind::set_from` behind a pointer): the
#     least a table can hold for a runtime to set a field of any declared
#     type with no generated code per field.
# They get crate-only figures (and instructions), not cold ones.
# Target (BENCHMARKS.md): with derive ≤ 1.5 × without.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

DEVICES="${DEVICES:-100}"
PROPS="${PROPS:-50}"
PROFILE="${PROFILE:-dev}"
REPS="${REPS:-3}"
COLD_REPS="${COLD_REPS:-3}"
JOBS="${JOBS:-$(nproc)}"
profile_flag=()
if [[ "$PROFILE" != dev ]]; then
    profile_flag=(--profile "$PROFILE")
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/qomgen-derive-cost.XXXXXX")"
if [[ -z "${KEEP:-}" ]]; then
    trap 'rm -rf "$WORK"' EXIT
fi

# One property: its field type, a default (or "" for none), and a `since`.
# A fixed mix of the built-in kinds, as real device tables have.
prop_type() { # $1 = property index; sets ty, default and since ("" for none)
    since=
    if (($1 % 3 == 0)); then
        since="9.$(($1 % 3))"
    fi
    case $(($1 % 10)) in
        0) ty=bool default=false ;;
        1) ty=u32 default=0 ;;
        2) ty=bool default=true ;;
        3) ty=OnOffAuto default=OnOffAuto::Auto ;;
        4) ty=u16 default=4 ;;
        5) ty=Size default='Size(4096)' ;;
        6) ty=i32 default=-1 ;;
        7) ty='Option<String>' default= ;;
        8) ty=u64 default=u64::MAX ;;
        9) ty='Option<PciHostAddress>' default= ;;
    esac
}

prop_line() { # $1 = device index, $2 = property index, $3 = mode
    local d=$1 p=$2 mode=$3 ty default since
    prop_type "$p"
    printf '    /// Property %d of device %d, with a description as real tables have\n' "$p" "$d"
    if [[ $mode == derive ]]; then
        local attrs="name = \"x-prop-$p\""
        [[ -n $default ]] && attrs+=", default = $default"
        [[ -n $since ]] && attrs+=", since = \"$since\""
        printf '    #[prop(%s)]\n' "$attrs"
    fi
    printf '    pub prop_%d: %s,\n' "$p" "$ty"
}

# The hand-written table of device $1 (FLOOR=1; see the top of the file).
floor_table() { # $1 = device index, $2 = mode (strings / typed)
    local d=$1 mode=$2 p ty default since
    if [[ $mode == strings ]]; then
        echo "pub static TABLE$d: &[Entry] = &["
        for ((p = 0; p < PROPS; p++)); do
            prop_type "$p"
            printf '    Entry { name: "x-prop-%d", description: "Property %d of device %d, with a description as real tables have", since: "%s" },\n' \
                "$p" "$p" "$d" "$since"
        done
        echo '];'
    else
        printf 'pub static STRINGS%d: &str = "' "$d"
        for ((p = 0; p < PROPS; p++)); do
            prop_type "$p"
            printf 'x-prop-%d\\0Property %d of device %d, with a description as real tables have\\0%s\\0' \
                "$p" "$p" "$d" "$since"
        done
        echo '";'
        echo "pub static FIELDS$d: &[(usize, &VTable)] = &["
        for ((p = 0; p < PROPS; p++)); do
            prop_type "$p"
            printf '    (offset_of!(GenDevice%d, prop_%d), &Kind::<%s>::VTABLE),\n' "$d" "$p" "$ty"
        done
        echo '];'
    fi
}

# What the floor crates declare before their structs.
floor_prelude() { # $1 = mode (strings / typed)
    if [[ $1 == strings ]]; then
        cat <<'EOF'
use qomgen::{OnOffAuto, PciHostAddress, Size};
pub struct Entry {
    pub name: &'static str,
    pub description: &'static str,
    pub since: &'static str,
}
EOF
    else
        cat <<'EOF'
use core::mem::offset_of;
use qomgen::{Input, OnOffAuto, PciHostAddress, PropertyKind, Size, ValueCx};
pub struct VTable {
    pub set: unsafe fn(*mut u8, Input<'_>, &ValueCx<'_>) -> qomgen::Result<()>,
    pub type_name: &'static str,
}
pub struct Kind<T>(core::marker::PhantomData<T>);
impl<T: PropertyKind> Kind<T> {
    pub const VTABLE: VTable = VTable { set: Self::set, type_name: T::TYPE_NAME };
    /// # Safety
    /// `field` points at a `T`.
    unsafe fn set(field: *mut u8, input: Input<'_>, cx: &ValueCx<'_>) -> qomgen::Result<()> {
        unsafe { (*field.cast::<T>()).set_from(input, cx) }
    }
}
EOF
    fi
}

gen_crate() { # $1 = dir, $2 = crate name, $3 = mode (derive / plain / strings / typed)
    local dir=$1 name=$2 mode=$3 d p
    mkdir -p "$dir/src"
    cat >"$dir/Cargo.toml" <<EOF
[package]
name = "$name"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
qomgen = { path = "$ROOT/runtime" }
EOF
    {
        echo '//! Generated by bench/derive-cost.sh.'
        echo '#![allow(missing_docs, dead_code)]'
        case $mode in
            derive) echo 'use qomgen::{Device, DeviceImpl, OnOffAuto, PciHostAddress, Size};' ;;
            plain) echo 'use qomgen::{OnOffAuto, PciHostAddress, Size};' ;;
            *) floor_prelude "$mode" ;;
        esac
        for ((d = 0; d < DEVICES; d++)); do
            echo
            echo "/// Generated device $d"
            if [[ $mode == derive ]]; then
                echo '#[derive(Device, Debug)]'
                echo "#[device(name = \"gen-device-$d\", category = Misc)]"
            else
                echo '#[derive(Debug)]'
            fi
            echo "pub struct GenDevice$d {"
            for ((p = 0; p < PROPS; p++)); do
                prop_line "$d" "$p" "$mode"
            done
            echo '}'
            case $mode in
                derive) echo "impl DeviceImpl for GenDevice$d {}" ;;
                plain) ;;
                *) floor_table "$d" "$mode" ;;
            esac
        done
    } >"$dir/src/lib.rs"
}

pkgs=(gen-with-derive gen-without-derive)
members='"with-derive", "without-derive"'
if [[ -n "${FLOOR:-}" ]]; then
    pkgs+=(gen-floor-strings gen-floor-typed)
    members+=', "floor-strings", "floor-typed"'
fi
echo "generating $DEVICES devices × $PROPS properties in $WORK"
cat >"$WORK/Cargo.toml" <<EOF
[workspace]
members = [$members]
resolver = "3"
EOF
# The workspace's lock file pins the same dependency versions as the project.
cp "$ROOT/Cargo.lock" "$WORK/Cargo.lock"
gen_crate "$WORK/with-derive" gen-with-derive derive
gen_crate "$WORK/without-derive" gen-without-derive plain
if [[ -n "${FLOOR:-}" ]]; then
    gen_crate "$WORK/floor-strings" gen-floor-strings strings
    gen_crate "$WORK/floor-typed" gen-floor-typed typed
fi
echo "lines: with derive $(wc -l <"$WORK/with-derive/src/lib.rs"), without $(wc -l <"$WORK/without-derive/src/lib.rs")"

now() { date +%s.%N; }
build() { # $1 = package; prints seconds
    local t0 t1
    t0=$(now)
    cargo build -q --manifest-path "$WORK/Cargo.toml" -j "$JOBS" "${profile_flag[@]}" -p "$1"
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

export CARGO_TARGET_DIR="$WORK/target"
# The figure is the crate's own compile: no incremental cache to reuse.
export CARGO_INCREMENTAL=0

declare -A cold crate colds
# Cold builds alternate between the crates, so that a change in the
# machine's load between runs falls on both.
for ((i = 0; i < COLD_REPS; i++)); do
    for pkg in gen-with-derive gen-without-derive; do
        rm -rf "$CARGO_TARGET_DIR"
        colds[$pkg]+="$(build "$pkg") "
    done
done
for pkg in "${pkgs[@]}"; do
    times=()
    for ((i = 0; i < REPS; i++)); do
        cargo clean -q --manifest-path "$WORK/Cargo.toml" "${profile_flag[@]}" -p "$pkg"
        times+=("$(build "$pkg")")
    done
    crate[$pkg]=$(printf '%s\n' "${times[@]}" | median)
    line="$pkg: crate only ${crate[$pkg]} s (median of: ${times[*]})"
    if [[ -n "${colds[$pkg]:-}" ]]; then
        # shellcheck disable=SC2086 # the list is space-separated numbers
        cold[$pkg]=$(printf '%s\n' ${colds[$pkg]} | median)
        line+=", cold ${cold[$pkg]} s (median of: ${colds[$pkg]% })"
    fi
    echo "$line"
done

declare -A instr
if [[ -n "${INSTR:-}" ]]; then
    # Only the generated crates' rustc runs under callgrind.
    cat >"$WORK/callgrind-rustc" <<'EOF2'
#!/usr/bin/env bash
if [[ " $* " == *" --crate-name gen_"* ]]; then
    exec valgrind --tool=callgrind --callgrind-out-file="$QOMGEN_CG_OUT" "$@" 2>/dev/null
fi
exec "$@"
EOF2
    chmod +x "$WORK/callgrind-rustc"
    for pkg in "${pkgs[@]}"; do
        cargo clean -q --manifest-path "$WORK/Cargo.toml" "${profile_flag[@]}" -p "$pkg"
        QOMGEN_CG_OUT="$WORK/callgrind.$pkg" RUSTC_WORKSPACE_WRAPPER="$WORK/callgrind-rustc" \
            cargo build -q --manifest-path "$WORK/Cargo.toml" "${profile_flag[@]}" -p "$pkg"
        instr[$pkg]=$(awk '/^summary:/ { print $2 }' "$WORK/callgrind.$pkg")
        echo "$pkg: $(awk -v i="${instr[$pkg]}" 'BEGIN { printf "%.3f", i / 1e9 }') G instructions (rustc, crate only)"
    done
fi

echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), -j $JOBS"
echo "$(rustc --version), profile $PROFILE, $DEVICES devices × $PROPS properties"
printf '%-28s %12s %12s %8s\n' "" "with derive" "without" "ratio"
awk -v a="${crate[gen-with-derive]}" -v b="${crate[gen-without-derive]}" \
    'BEGIN { printf "%-28s %10.2f s %10.2f s %7.1fx\n", "crate only (deps prebuilt)", a, b, a / b }'
awk -v a="${cold[gen-with-derive]}" -v b="${cold[gen-without-derive]}" \
    'BEGIN { printf "%-28s %10.2f s %10.2f s %7.2fx\n", "cold (deps included)", a, b, a / b }'
if [[ -n "${INSTR:-}" ]]; then
    awk -v a="${instr[gen-with-derive]}" -v b="${instr[gen-without-derive]}" \
        'BEGIN { printf "%-28s %10.2f G %10.2f G %7.1fx\n", "instructions, crate only", a / 1e9, b / 1e9, a / b }'
fi
if [[ -n "${FLOOR:-}" ]]; then
    for pkg in gen-floor-strings gen-floor-typed; do
        awk -v a="${crate[$pkg]}" -v b="${crate[gen-without-derive]}" -v p="${pkg#gen-}" \
            'BEGIN { printf "%-28s %10.2f s %10.2f s %7.1fx\n", p ", crate only", a, b, a / b }'
        if [[ -n "${INSTR:-}" ]]; then
            awk -v a="${instr[$pkg]}" -v b="${instr[gen-without-derive]}" -v p="${pkg#gen-}" \
                'BEGIN { printf "%-28s %10.2f G %10.2f G %7.2fx\n", p ", instructions", a / 1e9, b / 1e9, a / b }'
        fi
    done
fi
awk -v a="${crate[gen-with-derive]}" -v b="${crate[gen-without-derive]}" -v n=$((DEVICES * PROPS)) \
    'BEGIN { printf "derive cost per property: %.2f ms\n", (a - b) * 1000 / n }'
