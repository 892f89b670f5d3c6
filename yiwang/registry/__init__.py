"""数据资产登记: applications, compliance review, public notice, certificates on a transparency log."""
