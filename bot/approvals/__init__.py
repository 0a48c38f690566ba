"""Approvals: the 签发 workflow and the 发文字号 it assigns."""
