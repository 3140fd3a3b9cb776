// What every page knows: who is logged in, and (for admins) the agents chats
// can be assigned to.

export const S = { me: null, agents: [] };

export const ALL = ['admin', 'user', 'agent', 'readonly'];
export const OWNERS = ['admin', 'user', 'readonly'];
