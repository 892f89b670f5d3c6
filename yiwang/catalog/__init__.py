"""一网共享 catalog: the province's data resource directory (政务数据资源目录)."""
