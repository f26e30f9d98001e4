# otorepair shell integration for zsh.
#
#   In ~/.zshrc:   eval "$(otorepair init zsh)"
#   or:            source /path/to/otorepair/shell/otorepair.zsh
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
    if [[ -n ${OTOREPAIR-} ]]; then
        command "$@"
    elif ! whence -p otorepair >/dev/null 2>&1; then
        print -ru2 -- "otorepair: not found on PATH; running $1 without it"
        command "$@"
    else
        command otorepair -- "$@"
    fi
}

__otorepair_init() {
    emulate -L zsh
    local name
    # Unwrap what an earlier evaluation wrapped (only functions that are still ours).
    for name in ${=__otorepair_wrapped-}; do
        [[ $(whence -f -- $name 2>/dev/null) == *__otorepair_run* ]] && unfunction -- $name
    done
    typeset -g __otorepair_wrapped=
    [[ -o interactive ]] || return 0
    [[ -n ${OTOREPAIR-} ]] && return 0
    # ${=...} splits on blanks; zsh does not glob the words, so '*' stays a (skipped) word.
    for name in ${=OTOREPAIR_WRAP-}; do
        case $name in
            (if|then|else|elif|fi|case|esac|for|select|while|until|do|done|in|function|time|coproc|repeat|foreach|end|nocorrect|noglob|and|or|not|begin|switch|command|builtin|eval|exec|exit|return|source|set|unset|export|local|declare|typeset|readonly|float|integer|emulate|status|string|test|otorepair)
                print -ru2 -- "otorepair: OTOREPAIR_WRAP: not wrapping '$name' (a shell keyword or builtin)"
                continue
                ;;
            ([!A-Za-z0-9_]*|*[!A-Za-z0-9_.+-]*)
                print -ru2 -- "otorepair: OTOREPAIR_WRAP: not wrapping '$name' (not a valid function name)"
                continue
                ;;
        esac
        # Safe to eval: the name holds only letters, digits and _ . + -
        eval "function $name { __otorepair_run $name \"\$@\"; }"
        __otorepair_wrapped="$__otorepair_wrapped $name"
    done
}
__otorepair_init
unfunction __otorepair_init
