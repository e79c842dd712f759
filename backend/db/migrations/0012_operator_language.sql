-- The operator's language for the console and the backend's words (issue 17). NULL: follow the
-- console's --lang, else its LANG, and Accept-Language for the API. Which languages exist is
-- checked in code against the catalogs (a new language is a catalog, not a migration); the
-- database only keeps the shape of a language tag.
ALTER TABLE operators ADD COLUMN language text
    CHECK (language ~ '^[a-z]{2,3}(_[A-Z]{2})?$');
