/*
 * test_detok.c - the spacing rules of core/text/detok.h, one case each way: the issue's
 * "( error desconocido)", every opening mark and every closing one, a source that has the
 * spacing itself (kept), a source that has it for another mark only, texts without spaces
 * and empty ones; and the float32 numbers of core/base/jsonnum.h: the shortest decimal, and a
 * dump that prints 49.1 where Jansson's default printed 49.100000000000001.
 */
#include "core/base/jsonnum.h"
#include "core/text/detok.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* tidy(src, text) as a string compared with want. */
static void expect(const char *src, const char *text, const char *want)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    const size_t n = glia_detok_tidy(src, src ? strlen(src) : 0, buf, strlen(buf));
    ck_assert_msg(strcmp(buf, want) == 0 && n == strlen(want),
                  "tidy(\"%s\" | source \"%s\") = \"%s\", want \"%s\"", text, src ? src : "(none)", buf,
                  want);
}

START_TEST(brackets_and_punctuation)
{
    /* the example */
    expect("(unknown error)", "( error desconocido)", "(error desconocido)");
    expect("(unknown error)", "( error desconocido )", "(error desconocido)");
    expect("Options [FILE]", "Opciones [ FICHERO ]", "Opciones [FICHERO]");
    expect("{a}", "{ a }", "{a}");
    expect("Continue?", "¿ Continuar ?", "¿Continuar?");
    expect("Done!", "¡ Hecho !", "¡Hecho!");
    expect("\xe2\x80\x9cname\xe2\x80\x9d", "\xe2\x80\x9c nombre \xe2\x80\x9d",
           "\xe2\x80\x9cnombre\xe2\x80\x9d");
    expect("a \xc2\xab b \xc2\xbb", "\xc2\xab b \xc2\xbb", "\xc2\xab b \xc2\xbb"); /* the source has both */
    expect("yes, no; maybe: so.", "sí , no ; quizá : así .", "sí, no; quizá: así.");
    expect("Loading...", "Cargando ...", "Cargando...");
    expect(NULL, "( a , b )", "(a, b)"); /* no source: every rule applies */
}
END_TEST

START_TEST(the_source_keeps_its_own_spacing)
{
    expect("usage: test [ -n ]", "uso: test [ -n ]", "uso: test [ -n ]");
    expect("%s : %s", "%s : %s", "%s : %s");
    expect("ls -l .", "ls -l .", "ls -l .");
    /* the source allows " ]" and "[ " but not "( " */
    expect("[ x ] (y)", "[ x ] ( y)", "[ x ] (y)");
    /* ASCII quotes are left alone */
    expect("\"%s\"", "\" %s \"", "\" %s \"");
    expect("'%s'", "' %s '", "' %s '");
}
END_TEST

START_TEST(edges)
{
    expect("", "", "");
    expect("abc", "abc", "abc");
    expect("x", " .", " .");    /* a leading space has nothing before it to join */
    expect("x", "a  .", "a ."); /* one space at a time: the second one joins */
    expect("x", "(", "(");
    expect("x", "( ", "(");
}
END_TEST

START_TEST(float32_numbers_print_shortest)
{
    ck_assert(glia_json_f32(0.5f) == 0.5);
    ck_assert(glia_json_f32(0.9234f) == 0.9234);
    ck_assert(glia_json_f32(0.94359577f) == 0.94359577);
    ck_assert((float)glia_json_f32(1.0f / 3.0f) == 1.0f / 3.0f);
    ck_assert(isinf(glia_json_f32(INFINITY)));
    /* every float of a sweep reads back as itself */
    for (float x = 1e-6f; x < 1e6f; x *= 1.37f)
        ck_assert((float)glia_json_f32(x) == x);
    json_t *j =
        json_pack("{s:f, s:f, s:f}", "bleu", 49.10, "score", glia_json_f32(0.94359577f), "t", 1796646363.125);
    char *old = json_dumps(j, JSON_COMPACT), *now = json_dumps(j, JSON_COMPACT | GLIA_JSON_REALS);
    /* Jansson's default is the 17-digit text this module exists to avoid */
    ck_assert_msg(strstr(old, "49.100000000000001") != NULL, "%s", old);
    ck_assert_str_eq(now, "{\"bleu\":49.1,\"score\":0.94359577,\"t\":1796646363.125}");
    free(old);
    free(now);
    json_decref(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("detok");
    TCase *tc = tcase_create("detok");
    tcase_add_test(tc, brackets_and_punctuation);
    tcase_add_test(tc, the_source_keeps_its_own_spacing);
    tcase_add_test(tc, edges);
    tcase_add_test(tc, float32_numbers_print_shortest);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
