"""Search by sound: query examples (upload, item, segment, several), negatives, filters, pagination."""
