//! Pagination of list endpoints: `limit` (1..=500, default 50) and `offset`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    limit: u64,
    offset: u64,
}

impl Page {
    pub const DEFAULT_LIMIT: u64 = 50;
    pub const MAX_LIMIT: u64 = 500;

    pub fn parse(limit: Option<i64>, offset: Option<i64>) -> Result<Self, String> {
        let limit = match limit {
            None => Self::DEFAULT_LIMIT,
            Some(l) if (1..=Self::MAX_LIMIT as i64).contains(&l) => l as u64,
            Some(_) => return Err(format!("limit must be between 1 and {}", Self::MAX_LIMIT)),
        };
        let offset = match offset {
            None => 0,
            Some(o) if o >= 0 => o as u64,
            Some(_) => return Err("offset must be 0 or more".to_owned()),
        };
        Ok(Self { limit, offset })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced() {
        assert_eq!(Page::parse(None, None).unwrap(), Page::default());
        assert_eq!(Page::parse(Some(10), Some(20)).unwrap().offset(), 20);
        assert!(Page::parse(Some(0), None).is_err());
        assert!(Page::parse(Some(501), None).is_err());
        assert!(Page::parse(None, Some(-1)).is_err());
    }
}
