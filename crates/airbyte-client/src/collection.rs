//! The shape both kinds of template share (organization token): `{base}` to create and list,
//! `{base}/{id}` to read, patch and delete, `{base}/{id}/tags[/{tag}]` to tag and untag. A kind is
//! its base path and its endpoints; the calls are built here once.

use reqwest::Method;
use serde::Serialize;

use super::client::{Auth, Call};
use super::models::{TagMode, TagRequest};
use super::{ApiError, Endpoint};

/// Path segment escaping for ids and tag names (a tag name may hold `/` or spaces).
pub(crate) fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// One kind of template: where it lives and how each call is named.
pub(crate) struct Collection {
    pub base: &'static str,
    pub create: Endpoint,
    pub get: Endpoint,
    pub list: Endpoint,
    pub patch: Endpoint,
    pub delete: Endpoint,
    pub tag_add: Endpoint,
    pub tag_remove: Endpoint,
}

impl Collection {
    fn item(&self, id: &str) -> String {
        format!("{}/{}", self.base, segment(id))
    }

    fn call(&self, endpoint: Endpoint, method: Method, path: String) -> Call<'static> {
        Call::new(endpoint, method, path, Auth::Organization)
    }

    pub fn create(&self, request: &impl Serialize) -> Result<Call<'static>, ApiError> {
        self.call(self.create, Method::POST, self.base.to_string())
            .json(request)
    }

    pub fn get(&self, id: &str) -> Call<'static> {
        self.call(self.get, Method::GET, self.item(id))
    }

    /// The list, filtered by `tags` (all of them or any, as `mode` says) when there are any.
    pub fn list(&self, tags: &[String], mode: TagMode) -> Call<'static> {
        let mut call = self.call(self.list, Method::GET, self.base.to_string());
        for tag in tags {
            call = call.query("tags", tag.clone());
        }
        if !tags.is_empty() {
            call = call.query("tags_mode", mode.as_str());
        }
        call
    }

    pub fn patch(&self, id: &str, patch: &impl Serialize) -> Result<Call<'static>, ApiError> {
        self.call(self.patch, Method::PATCH, self.item(id))
            .json(patch)
    }

    pub fn delete(&self, id: &str) -> Call<'static> {
        self.call(self.delete, Method::DELETE, self.item(id))
    }

    pub fn add_tag(&self, id: &str, tag: &str) -> Result<Call<'static>, ApiError> {
        let path = format!("{}/tags", self.item(id));
        self.call(self.tag_add, Method::POST, path)
            .json(&TagRequest {
                tag: tag.to_string(),
            })
    }

    pub fn remove_tag(&self, id: &str, tag: &str) -> Call<'static> {
        let path = format!("{}/tags/{}", self.item(id), segment(tag));
        self.call(self.tag_remove, Method::DELETE, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::TEMPLATES;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(segment("plain-tag_1"), "plain-tag_1");
        assert_eq!(
            TEMPLATES.remove_tag("i d", "a/b").path,
            "/api/v1/integrations/templates/sources/i%20d/tags/a%2Fb"
        );
    }

    #[test]
    fn a_list_names_the_mode_only_with_tags() {
        assert!(TEMPLATES.list(&[], TagMode::All).query.is_empty());
        let query = TEMPLATES
            .list(&["x".into(), "y".into()], TagMode::All)
            .query;
        assert_eq!(query.len(), 3);
        assert_eq!(query[2], ("tags_mode", TagMode::All.as_str().to_string()));
    }
}
