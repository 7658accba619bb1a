export const request = {
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink,archer-c7-v5",
  packages: ["luci", "owut", "htop", "tcpdump"],
};
