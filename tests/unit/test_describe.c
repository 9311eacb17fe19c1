/*
 * test_describe.c - what /v1/models hides from a caller without the admin token (issue 14):
 * "path" and "*_path" keys at any depth, and the directories of absolute paths inside string
 * values (a load error names the file), while relative paths, routes' words and other
 * strings stay as they were.
 */
#include "daemon/routes/routes.h"
#include "tests/support/check_main.h"

#include <string.h>

static void assert_hidden(const char *in, const char *want)
{
    json_t *j = json_pack("{s:s}", "last_error", in);
    ck_assert_ptr_nonnull(j);
    describe_hide_paths(j);
    const char *got = json_string_value(json_object_get(j, "last_error"));
    ck_assert_msg(got && strcmp(got, want) == 0, "'%s' became '%s', want '%s'", in, got ? got : "(none)",
                  want);
    json_decref(j);
}

START_TEST(paths_in_messages)
{
    assert_hidden("/srv/models/m/model.safetensors: truncated", "model.safetensors: truncated");
    assert_hidden("cannot open /etc/gliad/x.yaml (No such file)", "cannot open x.yaml (No such file)");
    assert_hidden("'/a/b/c' and \"/d/e\"", "'c' and \"e\"");
    assert_hidden("bundle=/var/lib/gliad/models/m/3/model.yaml, line 2", "bundle=model.yaml, line 2");
    assert_hidden("[/x/y/z]", "[z]");
    assert_hidden("/trailing/dir/", "dir/");
    /* not absolute paths: relative ones, a lone slash, a slash inside a word */
    assert_hidden("models/m/model.yaml: bad key", "models/m/model.yaml: bad key");
    assert_hidden("a / b", "a / b");
    assert_hidden("T-shirt/top", "T-shirt/top");
    assert_hidden("", "");
}
END_TEST

START_TEST(path_keys_anywhere)
{
    json_t *j = json_pack("{s:s, s:s, s:[{s:s, s:s, s:i}], s:{s:s}, s:[s, s]}", "name", "m", "path", "/srv/m",
                          "versions", "source_path", "/srv/m/2", "note", "from /srv/m/2/model.yaml",
                          "version", 2, "repo", "path", "/srv", "errors", "/a/b.yaml: bad", "plain");
    ck_assert_ptr_nonnull(j);
    describe_hide_paths(j);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(text, "{\"errors\":[\"b.yaml: bad\",\"plain\"],\"name\":\"m\",\"repo\":{},"
                           "\"versions\":[{\"note\":\"from model.yaml\",\"version\":2}]}");
    free(text);
    json_decref(j);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("describe");
    TCase *t = tcase_create("hide_paths");
    tcase_add_test(t, paths_in_messages);
    tcase_add_test(t, path_keys_anywhere);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
