# The structure of one logical Dockerfile instruction line, over the tokens of
# src/dockerfile/lexer.ts: the keyword, then BuildKit's leading `--flag` words,
# then the rest (the arguments, split later by the instruction's own rule).
# The physical-line layer (directives, continuations, comments, heredoc bodies)
# is src/dockerfile/scanner.ts; it hands this grammar one logical line at a time.
#
# Lists are left-recursive cons cells, not EBNF (which copies the array at every
# item): parsing stays linear in the number of flags.
@preprocessor esmodule

@{%
import { instructionLexer } from '../lexer.js';

const lexer = instructionLexer('\\');
%}

@lexer lexer

instruction -> %keyword arguments:? {% ([keyword, args]) => ({ keyword, flags: args ? args.flags : null, rest: args ? args.rest : null }) %}

arguments -> %gap items %rest:? {% ([, flags, rest]) => ({ flags, rest }) %}

items -> null {% () => null %}
       | items %flag {% ([tail, head]) => ({ head, tail }) %}
       | items %space {% id %}
