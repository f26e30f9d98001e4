# otorepair shell integration for fish.
#
#   In ~/.config/fish/config.fish:   otorepair init fish | source
#   or:                              source /path/to/otorepair/shell/otorepair.fish
#
# Each command named in OTOREPAIR_WRAP (names separated by spaces) becomes a
# function that runs it under otorepair:
#
#   set -gx OTOREPAIR_WRAP "flask uvicorn npm"
#   flask run --debug          # runs: otorepair -- flask run --debug
#   command flask run --debug  # runs flask itself
#
# OTOREPAIR_WRAP is read when this snippet is evaluated: after changing it,
# evaluate the snippet again (names no longer listed are unwrapped).
# Nothing is wrapped in non-interactive shells (scripts) or inside otorepair,
# which sets OTOREPAIR=1 for the command it runs. Names that cannot be
# functions (./x, a/b, shell keywords) are skipped with a warning.

# Runs $argv under otorepair; checks OTOREPAIR again at run time so an exported
# OTOREPAIR=1 (inside otorepair) never wraps twice.
function __otorepair_run
    if test -n "$OTOREPAIR"
        command $argv
    else if not command -sq otorepair
        printf 'otorepair: not found on PATH; running %s without it\n' $argv[1] >&2
        command $argv
    else
        command otorepair -- $argv
    end
end

function __otorepair_init
    # Unwrap what an earlier evaluation wrapped (only functions that are still ours).
    for name in $__otorepair_wrapped
        if functions -q -- $name; and string match -q -- '*__otorepair_run*' (functions -- $name)
            functions -e -- $name
        end
    end
    set -g __otorepair_wrapped
    status is-interactive; or return 0
    test -n "$OTOREPAIR"; and return 0
    # Quoted, so an unset variable is one empty string (string never reads stdin).
    for name in (string match -ar -- '\S+' "$OTOREPAIR_WRAP")
        if contains -- $name if then else elif fi case esac for select while until do done in function time coproc \
                repeat foreach end nocorrect noglob and or not begin switch \
                command builtin eval exec exit return source set unset export local declare typeset \
                readonly float integer emulate status string test otorepair
            printf "otorepair: OTOREPAIR_WRAP: not wrapping '%s' (a shell keyword or builtin)\n" $name >&2
            continue
        end
        if not string match -qr -- '^[A-Za-z0-9_][A-Za-z0-9_.+-]*$' $name
            printf "otorepair: OTOREPAIR_WRAP: not wrapping '%s' (not a valid function name)\n" $name >&2
            continue
        end
        function $name --inherit-variable name --description "otorepair -- $name"
            __otorepair_run $name $argv
        end
        set -ga __otorepair_wrapped $name
    end
end
__otorepair_init
functions -e __otorepair_init
