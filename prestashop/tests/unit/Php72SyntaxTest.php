<?php

use PHPUnit\Framework\TestCase;

/**
 * The module runs on PHP 7.2 to 8.2, and only PHP 8.2 is here to lint it: this looks for the
 * syntax that PHP 7.2 does not parse (arrow functions, typed properties, ??=, trailing commas
 * in calls, match, ?->, attributes, enums, readonly, numeric separators).
 */
class Php72SyntaxTest extends TestCase
{
    public function files()
    {
        $files = [];
        $iterator = new RecursiveIteratorIterator(new RecursiveDirectoryIterator(dirname(__DIR__, 2) . '/kingavis'));
        foreach ($iterator as $file) {
            if ($file->getExtension() === 'php') {
                $files[] = [$file->getPathname()];
            }
        }

        return $files;
    }

    /**
     * @dataProvider files
     */
    public function testOnlyPhp72Syntax($path)
    {
        $forbidden = [];
        foreach (['T_FN' => 'arrow function', 'T_COALESCE_EQUAL' => '??=', 'T_MATCH' => 'match', 'T_NULLSAFE_OBJECT_OPERATOR' => '?->',
            'T_ATTRIBUTE' => 'attribute', 'T_ENUM' => 'enum', 'T_READONLY' => 'readonly'] as $name => $label) {
            if (defined($name)) {
                $forbidden[constant($name)] = $label;
            }
        }
        $tokens = array_values(array_filter(token_get_all(file_get_contents($path)), function ($token) {
            return !is_array($token) || !in_array($token[0], [T_WHITESPACE, T_COMMENT, T_DOC_COMMENT], true);
        }));
        $problems = [];
        $depth = 0;
        $classDepth = null;
        foreach ($tokens as $i => $token) {
            $next = isset($tokens[$i + 1]) ? $tokens[$i + 1] : null;
            $line = is_array($token) ? $token[2] : '?';
            if (is_array($token) && isset($forbidden[$token[0]])) {
                $problems[] = $forbidden[$token[0]] . ' on line ' . $line;
            }
            if (is_array($token) && in_array($token[0], [T_LNUMBER, T_DNUMBER], true) && strpos($token[1], '_') !== false) {
                $problems[] = 'numeric separator on line ' . $line;
            }
            if ($token === ',' && $next === ')') {
                $problems[] = 'trailing comma before ) near ' . (is_array($tokens[$i - 1]) ? $tokens[$i - 1][1] : $tokens[$i - 1]);
            }
            if (is_array($token) && $token[0] === T_CLASS) {
                $classDepth = $depth + 1;
            }
            if ($token === '{' || (is_array($token) && in_array($token[0], [T_CURLY_OPEN, T_DOLLAR_OPEN_CURLY_BRACES], true))) {
                ++$depth;
            } elseif ($token === '}') {
                --$depth;
            }
            // A property declared with a type: visibility, then a type, then the variable.
            if ($depth === $classDepth && is_array($token) && in_array($token[0], [T_PUBLIC, T_PROTECTED, T_PRIVATE, T_VAR, T_STATIC], true)
                && $next !== null && ($next === '?' || (is_array($next) && in_array($next[0], [T_STRING, T_ARRAY, T_CALLABLE], true)))) {
                $after = $next === '?' ? $i + 3 : $i + 2;
                if (isset($tokens[$after]) && is_array($tokens[$after]) && $tokens[$after][0] === T_VARIABLE) {
                    $problems[] = 'typed property on line ' . $line;
                }
            }
        }
        $this->assertSame([], $problems, basename($path));
    }
}
