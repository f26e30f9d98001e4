# otorepair shell integration for bash.
#
#   In ~/.bashrc:   eval "$(otorepair init bash)"
#   or:             source /path/to/otorepair/shell/otorepair.bash
#
# Each command named in OTOREPAIR_WRAP (names separated by spaces) becomes a
# shell function that runs it under otorepair:
#
#   export OTOREPAIR_WRAP="flask uvicorn npm"
#   flask run --debug          # runs: otorepair -- flask run --debug
#   command flask run --debug  # runs flask itself
#
# OTOREPAIR_WRAP is read when this snippet is evaluated: after changing it,
# evaluate the snippet again (names no longer listed are unwrapped).
# Nothing is wrapped in non-interactive shells (scripts) or inside otorepair,
# which sets OTOREPAIR=1 for the command it runs. Names that cannot be
# functions (./x, a/b, shell keywords) are skipped with a warning.

# Runs "$@" under otorepair; checks OTOREPAIR again at run time so an exported
# OTOREPAIR=1 (inside otorepair) never wraps twice.
__otorepair_run() {
    if [ -n "${OTOREPAIR-}" ]; then
        command "$@"
    elif ! command -v otorepair >/dev/null 2>&1; then
        printf 'otorepair: not found on PATH; running %s without it\n' "$1" >&2
        command "$@"
    else
        command otorepair -- "$@"
    fi
}

__otorepair_init() {
    local name
    local -a names
    # Unwrap what an earlier evaluation wrapped (only functions that are still ours).
    for name in ${__otorepair_wrapped-}; do
        case $(declare -f -- "$name" 2>/dev/null) in
            *__otorepair_run*) unset -f -- "$name" ;;
        esac
    done
    __otorepair_wrapped=
    case $- in
        *i*) ;;
        *) return 0 ;;
    esac
    [ -n "${OTOREPAIR-}" ] && return 0
    # read -a splits on blanks without globbing, so '*' stays a (skipped) word.
    read -r -a names <<<"${OTOREPAIR_WRAP-}"
    for name in "${names[@]}"; do
        case $name in
            if | then | else | elif | fi | case | esac | for | select | while | until | do | done | in | function | time | coproc | \
                repeat | foreach | end | nocorrect | noglob | and | or | not | begin | switch | \
                command | builtin | eval | exec | exit | return | source | set | unset | export | local | declare | typeset | \
                readonly | float | integer | emulate | status | string | test | otorepair)
                printf "otorepair: OTOREPAIR_WRAP: not wrapping '%s' (a shell keyword or builtin)\n" "$name" >&2
                continue
                ;;
            [!A-Za-z0-9_]* | *[!A-Za-z0-9_.+-]*)
                printf "otorepair: OTOREPAIR_WRAP: not wrapping '%s' (not a valid function name)\n" "$name" >&2
                continue
                ;;
        esac
        # Safe to eval: the name holds only letters, digits and _ . + -
        eval "function $name { __otorepair_run $name \"\$@\"; }"
        __otorepair_wrapped="$__otorepair_wrapped $name"
    done
}
__otorepair_init
unset -f __otorepair_init
