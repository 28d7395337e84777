import { describe, expect, it } from 'vitest';
import { expandWord, expandWords, expandWordWithMatches, ShellWordError } from '../../src/dockerfile/shell-word.js';

const env = new Map([
  ['HOME', '/root'],
  ['DIR', '/srv/app'],
  ['EMPTY', ''],
  ['SH', 'dash'],
  ['NAME', '세계'],
  ['FILE', 'archive.tar.gz'],
  ['PATHS', '/usr/local/bin:/usr/bin:/bin'],
  ['SPACED', 'one  two'],
  ['PADDED', '  x y  '],
]);

// [input, expected output, or null for an error]
const single: [string, string | null][] = [
  // plain text, quotes, escapes
  ['plain', 'plain'],
  ["a'b'c", 'abc'],
  ["a'b", null],
  ["a\\'b", "a'b"],
  ["a\\\\'b", null],
  ['x\\ty', 'xty'],
  ['"x\\ty"', 'x\\ty'],
  ['"x\\\\ty"', 'x\\ty'],
  ["'x\\ty'", 'x\\ty'],
  ['trail\\', 'trail'],
  ['trail\\\\', 'trail\\'],
  ['"open', null],
  ['"open\\"', null],
  ['"it\'s"', "it's"],
  ["'open", null],
  ["'back\\'", 'back\\'],
  ["'a\\\\b'", 'a\\\\b'],
  ['"\'\'"', "''"],
  ["'\"q\"'", '"q"'],
  // $NAME
  ['$HOME', '/root'],
  ['$HOME/x', '/root/x'],
  ['x$HOME.', 'x/root.'],
  ['$home', ''],
  ['$.', '$.'],
  ['a$', 'a$'],
  ['$1x', 'x'],
  ['$12x', 'x'],
  ['\\$HOME', '$HOME'],
  ['\\\\$HOME', '\\/root'],
  ['"$HOME"', '/root'],
  ['"\\$HOME"', '$HOME'],
  ['"\\\\$HOME"', '\\/root'],
  ["'$HOME'", '$HOME'],
  ["'\\$HOME'", '\\$HOME'],
  ['"a\'$HOME\'b"', "a'/root'b"],
  ['$NAME!', '세계!'],
  ['안녕$NAME', '안녕세계'],
  ["안'녕'", '안녕'],
  // ${NAME}
  ['${HOME}', '/root'],
  ['${HOME}x', '/rootx'],
  ['${nope}x', 'x'],
  ['\\${}', '${}'],
  ['a\\${}b', 'a${}b'],
  ['${}', null],
  ['a${}b', null],
  ['${.}', null],
  ['${HOME', null],
  ['${{HOME}', null],
  ['${HOME}}', '/root}'],
  ['${:}', null],
  ['${:-x}', null],
  // defaults and alternatives
  ['${nope:-d}', 'd'],
  ['${nope-d}', 'd'],
  ['${EMPTY:-d}', 'd'],
  ['${EMPTY-d}', ''],
  ['${HOME:-d}', '/root'],
  ['${nope:-$HOME}', '/root'],
  ['${nope:-${HOME:-y}}', '/root'],
  ['${nope:-${nope2:-y}}z', 'yz'],
  ['${nope:-a b}', 'a b'],
  ['${nope:-"q}"}', 'q}'],
  ["${nope:-'q}'}", 'q}'],
  ['${nope:-a {b}', 'a {b'],
  ['${nope:-a ${b}', null],
  ['${nope:-d', null],
  ['${nope:+alt}', ''],
  ['${nope+alt}', ''],
  ['${EMPTY:+alt}', ''],
  ['${EMPTY+alt}', 'alt'],
  ['${HOME:+alt}', 'alt'],
  ['${HOME:+${SH}}', 'dash'],
  ['${HOME:+${nope}}x', 'x'],
  ['${HOME:+$HOME:}x', '/root:x'],
  ['${nope:-\\$HOME:}x', '$HOME:x'],
  ['${nope:-\\${HOME}z}x', '${HOMEz}x'],
  // required
  ['${nope?}', null],
  ['${nope:?}', null],
  ['${EMPTY?}', ''],
  ['${EMPTY:?}', null],
  ['${HOME?}', '/root'],
  ['${HOME:?must}', '/root'],
  // unsupported
  ['${HOME:=x}', null],
  ['${HOME:x}', null],
  ['${HOME=x}', null],
  ['${HOME:#x}', null],
  ['${HOME:%x}', null],
  // positional and special parameters are never set
  ['$1', ''],
  ['${1:-one}', 'one'],
  ['${1:+one}', ''],
  ['$999z', 'z'],
  ['${001:-d}z', 'dz'],
  ['$@@', '@'],
  ['${@:-d}', 'd'],
  ['$*', ''],
  ['$#', ''],
  ['${#:-d}', 'd'],
  ['$?', ''],
  ['$-', ''],
  ['$$', ''],
  ['$!', ''],
  ['$0', ''],
  ['${0:-zero}', 'zero'],
  // prefix/suffix removal
  ['${FILE#*.}', 'tar.gz'],
  ['${FILE##*.}', 'gz'],
  ['${FILE%.*}', 'archive.tar'],
  ['${FILE%%.*}', 'archive'],
  ['${FILE#archive}', '.tar.gz'],
  ['${FILE#nomatch}', 'archive.tar.gz'],
  ['${FILE%.gz}', 'archive.tar'],
  ['${FILE%?z}', 'archive.tar.'],
  ['${FILE#?????}', 've.tar.gz'],
  ['${PATHS#*:}', '/usr/bin:/bin'],
  ['${PATHS##*:}', '/bin'],
  ['${PATHS%:*}', '/usr/local/bin:/usr/bin'],
  ['${PATHS%%:*}', '/usr/local/bin'],
  ['${PATHS#*/bin}', ':/usr/bin:/bin'],
  ['${nope#x}', ''],
  ['${FILE#a\\*}', 'archive.tar.gz'],
  ['${FILE#a*\\.}', null], // only \*, \? and \\ may be escaped in a pattern
  ['${FILE#\\q}', null],
  ['${FILE%.[a-z]*}', 'archive.tar.gz'],
  ['${FILE#"arch"}', 'ive.tar.gz'],
  ['${NAME#세}', '계'],
  // substitution
  ['${FILE/a/A}', 'Archive.tar.gz'],
  ['${FILE//a/A}', 'Archive.tAr.gz'],
  ['${FILE/.*/}', 'archive'],
  ['${FILE//?/x}', 'xxxxxxxxxxxxxx'],
  ['${PATHS//:/ }', '/usr/local/bin /usr/bin /bin'],
  ['${FILE/nomatch/x}', 'archive.tar.gz'],
  ['${nope/a/b}', ''],
  ['${FILE/a}', null],
  ['${FILE/a/b', null],
  ['${FILE/\\//x}', 'archive.tar.gz'],
  ['${DIR//\\//_}', '_srv_app'],
  ['${FILE//./$$}', 'archivetargz'], // $$ in the replacement is the (unset) special parameter
];

describe('expandWord (BuildKit ProcessWord rules)', () => {
  for (const [input, expected] of single) {
    it(`${input} -> ${expected ?? 'error'}`, () => {
      if (expected === null) expect(() => expandWord(input, env)).toThrow(ShellWordError);
      else expect(expandWord(input, env)).toBe(expected);
    });
  }

  it('gives the variable and message for ${VAR:?msg}', () => {
    expect(() => expandWord('${TOKEN:?set TOKEN}', env)).toThrow('TOKEN: set TOKEN');
    expect(() => expandWord('${TOKEN?}', env)).toThrow('TOKEN: is not allowed to be unset');
    expect(() => expandWord('${EMPTY:?}', env)).toThrow('EMPTY: is not allowed to be empty');
  });

  it('names the word that failed', () => {
    expect(() => expandWord('a${', env)).toThrow(/failed to process "a\$\{": syntax error: missing '}'/);
  });

  it('accepts a lookup function', () => {
    expect(expandWord('$A-$B', (n) => (n === 'A' ? 'x' : undefined))).toBe('x-');
  });

  it('does not re-scan substituted values', () => {
    expect(expandWord('$X', new Map([['X', '$HOME "q"']]))).toBe('$HOME "q"');
  });
});

describe('backtick escape token', () => {
  const o = { escapeToken: '`' as const };
  it('escapes with a backtick and keeps backslashes literal', () => {
    expect(expandWord('C:\\dir\\$HOME', env, o)).toBe('C:\\dir\\/root');
    expect(expandWord('`$HOME', env, o)).toBe('$HOME');
    expect(expandWord('"a`"b"', env, o)).toBe('a"b');
    expect(expandWord('"a\\"', env, o)).toBe('a\\');
    expect(expandWord('``', env, o)).toBe('`');
    expect(expandWord('a` b', env, o)).toBe('a b');
  });
});

describe('options', () => {
  it('skipProcessQuotes leaves quotes (heredoc bodies)', () => {
    expect(expandWord(`echo "$HOME" 'x'`, env, { skipProcessQuotes: true })).toBe(`echo "/root" 'x'`);
  });
  it('rawQuotes and rawEscapes keep the characters', () => {
    expect(expandWord(`"a b"'c'`, env, { rawQuotes: true })).toBe(`"a b"'c'`);
    expect(expandWord('a\\ b', env, { rawEscapes: true })).toBe('a\\ b');
  });
  it('skipUnsetEnv keeps references to unset variables', () => {
    const o = { skipUnsetEnv: true };
    expect(expandWord('$nope ${nope} ${nope:-x} $HOME', env, o)).toBe('$nope ${nope} ${nope:-x} /root');
  });
});

describe('expandWords (word splitting after substitution)', () => {
  const words: [string, string[] | null][] = [
    ['hello', ['hello']],
    ['a b   c', ['a', 'b', 'c']],
    ['  lead trail  ', ['lead', 'trail']],
    ['x${SPACED}y', ['xone', 'twoy']],
    ['x"${SPACED}"y', ['xone  twoy']],
    ['x "${SPACED}"y', ['x', 'one  twoy']],
    ['x${PADDED}z', ['x', 'x', 'y', 'z']],
    ['x"${PADDED}" z', ['x  x y  ', 'z']],
    ['x${PADDED}', ['x', 'x', 'y']],
    ['"a b"', ['a b']],
    ['a\\ b', ['a b']],
    ['a" b', null],
    ['a\\" b', ['a"', 'b']],
    ['a"\\\\b"', ['a\\b']],
    ["a'\\\\b'", ['a\\\\b']],
    ["a'$HOME'", ['a$HOME']],
    ['80/tcp ${nope:-443}', ['80/tcp', '443']],
    ['pre${nope:-mid}post', ['premidpost']],
    ['cat <<  EOF', ['cat', '<<  EOF']],
    ['', []],
  ];
  for (const [input, expected] of words) {
    it(`${JSON.stringify(input)} -> ${expected ? JSON.stringify(expected) : 'error'}`, () => {
      if (expected === null) expect(() => expandWords(input, env)).toThrow(ShellWordError);
      else expect(expandWords(input, env)).toEqual(expected);
    });
  }
});

describe('referenced variables', () => {
  it('reports set and unset references, including ones inside defaults', () => {
    const r = expandWordWithMatches('$HOME ${A:-$B} ${EMPTY:+x} $HOME', env);
    expect(r.value).toBe('/root   /root');
    expect(r.matched).toEqual(['EMPTY', 'HOME']);
    expect(r.unmatched).toEqual(['A', 'B']);
  });
  it('reports nothing for quoted or escaped dollars', () => {
    const r = expandWordWithMatches("'$A' \\$B", env);
    expect(r.matched).toEqual([]);
    expect(r.unmatched).toEqual([]);
  });
});
